/** The last hour as a small SVG chart: queue depth as a line, jobs finished per minute as bars. */
import { formatTime } from './format.js';
import type { ActivityView } from './types.js';

const WIDTH = 600;
const HEIGHT = 120;

/** Queue depth and throughput per minute. */
export function ActivityChart({ activity }: { activity: ActivityView }) {
  const buckets = activity.buckets;
  const finished = buckets.map((b) => b.succeeded + b.unsuccessful);
  const maxBar = Math.max(1, ...finished);
  const maxDepth = Math.max(1, ...buckets.map((b) => b.queueDepth ?? 0));
  const step = WIDTH / Math.max(1, buckets.length);
  let depth = 0;
  const points = buckets.map((b, i) => {
    depth = b.queueDepth ?? depth;
    return `${(i + 0.5) * step},${HEIGHT - (depth / maxDepth) * (HEIGHT - 10)}`;
  });
  const totalFinished = finished.reduce((a, b) => a + b, 0);
  const totalAccepted = buckets.reduce((a, b) => a + b.accepted, 0);
  const description = `Last hour: ${totalAccepted} accepted, ${totalFinished} finished; queue depth peaked at ${Math.max(0, ...buckets.map((b) => b.queueDepth ?? 0))}.`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={description} preserveAspectRatio="none">
        {finished.map((n, i) => (
          <rect key={i} class="chart-bar" x={i * step + 1} width={Math.max(1, step - 2)} y={HEIGHT - (n / maxBar) * (HEIGHT - 10)} height={(n / maxBar) * (HEIGHT - 10)}>
            <title>{`${formatTime(buckets[i]!.start)}: ${n} finished, queue ${buckets[i]!.queueDepth ?? '—'}`}</title>
          </rect>
        ))}
        <polyline class="chart-line" points={points.join(' ')} fill="none" />
      </svg>
      <figcaption>
        <span class="key key-bar" /> finished per minute (max {maxBar}) <span class="key key-line" /> queue depth (max {maxDepth}) · {description}
      </figcaption>
    </figure>
  );
}

/** How numbers, sizes, durations and times read on the page. */

/** `1.5 GiB`, `640 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** `45 s`, `3 min 20 s`, `2 h 5 min`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** A duration given in milliseconds: `12 ms` below a second, otherwise as {@link formatSeconds}. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : formatSeconds(ms / 1000);
}

/** Time left as a moving estimate: `3 min 20 s left`, or `past its estimate` once the estimated time has gone by. */
export function formatLeft(seconds: number): string {
  return seconds > 0.5 ? `${formatSeconds(seconds)} left` : 'past its estimate';
}

/** A local clock time with seconds, e.g. `14:03:27`. */
export function formatTime(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** `42 %`. */
export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100)} %`;
}

/** `waiting_for_model` → `waiting for model`. */
export function words(identifier: string): string {
  return identifier.replace(/_/g, ' ');
}

/** The last 8 characters of an id (job ids are UUIDv7: their first characters are the time, alike for jobs of one moment). */
export function shortId(id: string): string {
  return id.slice(-8);
}

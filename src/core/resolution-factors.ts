import { parseResolution } from './requirements.js';

/**
 * Factor for `resolution` from a table keyed by WIDTHxHEIGHT. A resolution in the table takes its value; any other
 * is interpolated linearly on pixel count between the table's points (extrapolated from the nearest segment), never
 * below `floor`. The reference used a flat ×1.2 for every unlisted resolution, which made 832x480 cost more VRAM
 * than 1280x720; interpolation keeps smaller frames cheaper.
 */
export function resolutionFactor(table: Readonly<Record<string, number>>, resolution: string, floor = 0.25): number {
  const exact = table[resolution];
  if (exact !== undefined) return exact;
  const points = Object.entries(table)
    .map(([res, factor]) => {
      const { width, height } = parseResolution(res);
      return { pixels: width * height, factor };
    })
    .sort((a, b) => a.pixels - b.pixels);
  const { width, height } = parseResolution(resolution);
  const pixels = width * height;
  if (points.length === 0) return 1;
  if (points.length === 1) return points[0]!.factor;
  // Inside the table's range: the segment that holds it. Outside: the line through the smallest and largest points,
  // so that close neighbours with equal factors (1280x704, 1280x720) do not flatten the extrapolation.
  let a = points[0]!;
  let b = points[points.length - 1]!;
  if (pixels > a.pixels && pixels < b.pixels) {
    let i = 0;
    while (pixels > points[i + 1]!.pixels) i++;
    a = points[i]!;
    b = points[i + 1]!;
  }
  if (b.pixels === a.pixels) return a.factor;
  const factor = a.factor + ((pixels - a.pixels) * (b.factor - a.factor)) / (b.pixels - a.pixels);
  return Math.max(floor, factor);
}

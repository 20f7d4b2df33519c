/**
 * Ids of delivered events, `<ms>-<seq>` (two whole numbers), the shape of Redis stream ids: on a Redis store they
 * are the stream's entry ids; in one process, the log's start time and a counter. Ordered by `ms`, then `seq`.
 */

/** An event id's two parts. */
export interface EventId {
  ms: bigint;
  seq: bigint;
}

/** What an event id must look like, for error messages. */
export const EVENT_ID_FORMAT = '<ms>-<seq> (two whole numbers), the eventId of an event received';

const EVENT_ID = /^(\d{1,20})-(\d{1,20})$/;
const U64_MAX = 2n ** 64n - 1n;

/** Parses `text` as an event id; undefined when it is not one (each part at most 2^64 − 1, as Redis allows). */
export function parseEventId(text: string): EventId | undefined {
  const match = EVENT_ID.exec(text);
  if (!match) return undefined;
  const ms = BigInt(match[1] as string);
  const seq = BigInt(match[2] as string);
  return ms <= U64_MAX && seq <= U64_MAX ? { ms, seq } : undefined;
}

/** Orders two well-formed event ids: negative when `a` comes first, 0 when equal, positive when `a` comes after. */
export function compareEventIds(a: string, b: string): number {
  const x = parseEventId(a);
  const y = parseEventId(b);
  if (!x || !y) throw new RangeError(`not an event id: ${x ? b : a} (expected ${EVENT_ID_FORMAT})`);
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1;
  return x.seq === y.seq ? 0 : x.seq < y.seq ? -1 : 1;
}

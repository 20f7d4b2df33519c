/** Small hooks the views share: the live events, a throttled refresh, a ticking clock. */
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { LiveEvents } from './live.js';
import type { UnderstudyEvent } from './types.js';

/** The page's events socket. */
export const LiveContext = createContext<LiveEvents | null>(null);

/** Calls `handler` with every live event while the component is mounted, and `onResync` after a reconnect. */
export function useLiveEvents(handler: (event: UnderstudyEvent) => void, onResync?: () => void): void {
  const live = useContext(LiveContext);
  const latest = useRef({ handler, onResync });
  latest.current = { handler, onResync };
  useEffect(() => {
    if (!live) return undefined;
    const off = live.subscribe((event) => latest.current.handler(event));
    const offState = live.onState((_state, reconnected) => {
      if (reconnected) latest.current.onResync?.();
    });
    return () => {
      off();
      offState();
    };
  }, [live]);
}

/**
 * A function that runs `fn` at most once per `ms`: the first call runs it at once, calls during the pause run it
 * once more at the end. For refreshing a view when events arrive faster than it is worth reading.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const state = useRef({ fn, last: 0, timer: undefined as ReturnType<typeof setTimeout> | undefined });
  state.current.fn = fn;
  useEffect(() => () => clearTimeout(state.current.timer), []);
  return useRef(() => {
    const s = state.current;
    if (s.timer !== undefined) return;
    const wait = s.last + ms - Date.now();
    const run = () => {
      s.timer = undefined;
      s.last = Date.now();
      s.fn();
    };
    if (wait <= 0) run();
    else s.timer = setTimeout(run, wait);
  }).current;
}

/** The current time, updated every `ms` (for moving estimates). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

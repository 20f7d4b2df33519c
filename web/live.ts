/**
 * The live event stream: one WebSocket to `/v1/events` for the whole page, reconnecting with backoff when it drops
 * and saying so. The token goes as a subprotocol (`understudy.bearer.<base64url>`), never in the URL.
 */
import type { UnderstudyEvent } from './types.js';

/** The connection as the header shows it. */
export type LiveState = 'connecting' | 'open' | 'reconnecting';

/** Options of {@link LiveEvents}. */
export interface LiveEventsOptions {
  /** The token to send; null without one. */
  token: () => string | null;
  /** First delay before a reconnect, ms (default 500), doubled up to `maxDelayMs` (default 10,000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** Subprotocols of an events socket: the version, then the token when there is one. */
export function eventProtocols(token: string | null): string[] {
  if (!token) return ['understudy.v1'];
  const bytes = new TextEncoder().encode(token);
  const base64 = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return ['understudy.v1', `understudy.bearer.${base64}`];
}

/** The page's one events socket. */
export class LiveEvents {
  private socket: WebSocket | null = null;
  private readonly listeners = new Set<(event: UnderstudyEvent) => void>();
  private readonly stateListeners = new Set<(state: LiveState, reconnected: boolean) => void>();
  private delay: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private wasOpen = false;
  /** The connection now. */
  state: LiveState = 'connecting';

  constructor(private readonly options: LiveEventsOptions) {
    this.delay = options.initialDelayMs ?? 500;
  }

  /** Opens the socket (again after {@link stop}). */
  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes the socket and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }

  /** Calls `listener` with every event; returns the unsubscribe function. */
  subscribe(listener: (event: UnderstudyEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` when the connection changes; `reconnected` is true when it opens again after a loss. */
  onState(listener: (state: LiveState, reconnected: boolean) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  private connect(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/events`;
    const socket = new WebSocket(url, eventProtocols(this.options.token()));
    this.socket = socket;
    socket.onopen = () => {
      const reconnected = this.wasOpen;
      this.wasOpen = true;
      this.delay = this.options.initialDelayMs ?? 500;
      this.setState('open', reconnected);
    };
    socket.onmessage = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as UnderstudyEvent;
      for (const listener of this.listeners) listener(event);
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.setState(this.wasOpen ? 'reconnecting' : 'connecting', false);
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, this.options.maxDelayMs ?? 10_000);
    };
  }

  private setState(state: LiveState, reconnected: boolean): void {
    this.state = state;
    for (const listener of this.stateListeners) listener(state, reconnected);
  }
}

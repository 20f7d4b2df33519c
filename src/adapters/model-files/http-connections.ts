/**
 * The undici dispatchers one file's download sends its requests through: an `Agent` (a keep-alive pool per origin)
 * for direct requests, and a `ProxyAgent` per proxy URL (http targets in absolute form, https by CONNECT and TLS in
 * the tunnel). https trusts Node's bundled roots plus the configured CA certificates, through a proxy too.
 */
import { rootCertificates } from 'node:tls';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { proxyFor, type ProxySettings } from './proxy-settings.js';

/** Options of {@link HttpConnections}. */
export interface HttpConnectionsOptions {
  /** PEM certificates trusted for https beside Node's bundled roots. */
  ca?: string;
  /** Where the proxy for each URL comes from (see {@link proxyFor}; by default `HTTP(S)_PROXY` and `NO_PROXY`). */
  proxy?: ProxySettings;
}

/** Where one request goes: the dispatcher, and the proxy it passes through (undefined: direct). */
export interface Route {
  readonly dispatcher: Dispatcher;
  readonly proxy?: URL;
}

/** Dispatchers for one download, made on first use and closed together. */
export class HttpConnections {
  private direct: Agent | undefined;
  private readonly proxies = new Map<string, ProxyAgent>();
  private readonly tls: { ca?: string[] };

  constructor(private readonly options: HttpConnectionsOptions = {}) {
    this.tls = options.ca === undefined ? {} : { ca: [...rootCertificates, options.ca] };
  }

  /** The dispatcher for `url`; throws `scheme_not_allowed` for a proxy that is not http://. */
  routeFor(url: URL): Route {
    const proxy = proxyFor(url, this.options.proxy);
    if (proxy === undefined) {
      this.direct ??= new Agent({ connect: this.tls, headersTimeout: 0, bodyTimeout: 0 });
      return { dispatcher: this.direct };
    }
    let agent = this.proxies.get(proxy);
    if (!agent) {
      // Timeouts are the downloader's (idleTimeoutMs on its Clock), not undici's real-time ones.
      agent = new ProxyAgent({ uri: proxy, proxyTunnel: false, requestTls: this.tls, headersTimeout: 0, bodyTimeout: 0 });
      this.proxies.set(proxy, agent);
    }
    return { dispatcher: agent, proxy: new URL(proxy) };
  }

  /** Closes every connection at once, with any request still under way. */
  async close(): Promise<void> {
    const all: Dispatcher[] = [...this.proxies.values(), ...(this.direct ? [this.direct] : [])];
    this.direct = undefined;
    this.proxies.clear();
    await Promise.all(all.map((dispatcher) => dispatcher.destroy().catch(() => undefined)));
  }
}

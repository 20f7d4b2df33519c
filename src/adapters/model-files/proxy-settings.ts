/**
 * Which HTTP proxy a download goes through: an explicit proxy, or the conventional environment variables
 * (`HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones, either case), minus the hosts `NO_PROXY` lists.
 */
import { isLoopback } from '../../core/loopback.js';
import { DownloadError } from './download-errors.js';

/** Where proxies come from. */
export interface ProxySettings {
  /** A proxy for every URL (`http://[user:password@]host:port`), instead of the environment's. */
  proxy?: string;
  /** The environment to read `HTTP(S)_PROXY` and `NO_PROXY` from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The proxy URL for `url`, or undefined to connect directly. A proxy from the environment is not used for loopback
 * hosts (localhost and `*.localhost`, 127.0.0.0/8, ::1). `NO_PROXY` (comma or space separated) applies to an explicit proxy too: `*` is every host; `example.com` or `.example.com` is that domain and its subdomains;
 * `host:port` matches that port only; an IP address matches itself. Only `http://` proxies are supported (https
 * through them by `CONNECT`); another scheme fails with `scheme_not_allowed`, naming the variable.
 */
export function proxyFor(url: URL, settings: ProxySettings = {}): string | undefined {
  const env = settings.env ?? process.env;
  const variable = url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY';
  const source = settings.proxy !== undefined ? 'proxy' : variable;
  const proxy = settings.proxy ?? env[variable] ?? env[variable.toLowerCase()];
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (!proxy || bypassed(host, url, env.NO_PROXY ?? env.no_proxy ?? '')) return undefined;
  // A proxy from the environment cannot reach this machine's loopback (it would reach its own).
  if (settings.proxy === undefined && (isLoopback(host) || host.endsWith('.localhost'))) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(proxy.includes('://') ? proxy : `http://${proxy}`);
  } catch {
    throw new DownloadError('scheme_not_allowed', `${source} is not a proxy URL (expected http://host:port)`);
  }
  if (parsed.protocol !== 'http:') {
    throw new DownloadError('scheme_not_allowed', `${source} uses ${parsed.protocol}//; only http:// proxies are supported`);
  }
  return parsed.href;
}

/** Whether NO_PROXY lists `host` (the URL's, lowercase, without brackets) at the URL's port. */
function bypassed(host: string, url: URL, noProxy: string): boolean {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true;
      const lower = entry.toLowerCase();
      // A bare IPv6 address has colons of its own and no port; otherwise a trailing :digits is a port.
      const bareIpv6 = !lower.startsWith('[') && (lower.match(/:/g) ?? []).length > 1;
      const match = bareIpv6 ? undefined : /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(lower);
      const name = bareIpv6 ? lower : (match?.[1] ?? '');
      const entryPort = match?.[2];
      if (entryPort !== undefined && entryPort !== port) return false;
      const domain = name.replace(/^\*?\./, '');
      return domain !== '' && (host === domain || host.endsWith(`.${domain}`));
    });
}

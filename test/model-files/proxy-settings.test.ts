import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDownloadError } from '../../src/adapters/model-files/download-errors.js';
import { proxyFor } from '../../src/adapters/model-files/proxy-settings.js';

const url = (text: string): URL => new URL(text);

describe('proxyFor', () => {
  it('takes HTTPS_PROXY for https URLs and HTTP_PROXY for http ones, in either case', () => {
    const env = { HTTPS_PROXY: 'http://secure.proxy:3128', http_proxy: 'http://plain.proxy:8080' };
    assert.equal(proxyFor(url('https://huggingface.co/x'), { env }), 'http://secure.proxy:3128/');
    assert.equal(proxyFor(url('http://mirror.local/x'), { env }), 'http://plain.proxy:8080/');
    assert.equal(proxyFor(url('http://mirror.local/x'), { env: { HTTPS_PROXY: 'http://secure.proxy:3128' } }), undefined);
    assert.equal(proxyFor(url('https://huggingface.co/x'), { env: {} }), undefined);
  });

  it('reads a proxy given without a scheme as http, and an explicit proxy wins over the environment', () => {
    assert.equal(proxyFor(url('https://hf.co/x'), { env: { HTTPS_PROXY: 'proxy.corp:3128' } }), 'http://proxy.corp:3128/');
    assert.equal(proxyFor(url('https://hf.co/x'), { proxy: 'http://mine:1', env: { HTTPS_PROXY: 'http://theirs:2' } }), 'http://mine:1/');
  });

  it('goes direct to the hosts NO_PROXY lists: *, domains with their subdomains, host:port, IP addresses', () => {
    const through = (target: string, noProxy: string): boolean =>
      proxyFor(url(target), { env: { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1', NO_PROXY: noProxy } }) !== undefined;
    assert.equal(through('https://a.example.com/x', '*'), false);
    assert.equal(through('https://example.com/x', 'example.com'), false);
    assert.equal(through('https://cdn.example.com/x', 'example.com'), false);
    assert.equal(through('https://cdn.example.com/x', '.example.com'), false);
    assert.equal(through('https://cdn.example.com/x', '*.example.com'), false);
    assert.equal(through('https://badexample.com/x', 'example.com'), true, 'a suffix of the name is not the domain');
    assert.equal(through('https://mirror.local:8443/x', 'mirror.local:8443'), false);
    assert.equal(through('https://mirror.local/x', 'mirror.local:8443'), true, 'another port goes through the proxy');
    assert.equal(through('http://mirror.local/x', 'mirror.local:80'), false, 'the default port counts');
    assert.equal(through('http://10.1.2.3:9000/x', 'localhost, 10.1.2.3'), false);
    assert.equal(through('http://[fd00::5]:9000/x', 'fd00::5'), false);
    assert.equal(through('http://[fd00::5]:9000/x', '[fd00::5]:9000'), false);
    assert.equal(through('http://[fd00::5]:9000/x', '[fd00::5]:9001'), true);
    assert.equal(through('https://HF.co/x', 'other.org  hf.CO'), false, 'space separated, any case');
    assert.equal(
      proxyFor(url('https://hf.co/x'), { proxy: 'http://mine:1', env: { no_proxy: 'hf.co' } }),
      undefined,
      'NO_PROXY applies to an explicit proxy too',
    );
  });

  it('does not send loopback hosts to a proxy from the environment, but does to an explicit one', () => {
    const env = { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' };
    for (const target of ['http://localhost:8080/x', 'https://127.0.0.1/x', 'http://127.8.9.10/x', 'http://[::1]/x', 'http://app.localhost/x']) {
      assert.equal(proxyFor(url(target), { env }), undefined, target);
    }
    assert.equal(proxyFor(url('http://127.0.0.1:8080/x'), { proxy: 'http://p:1', env: {} }), 'http://p:1/');
    assert.equal(proxyFor(url('http://128.0.0.1/x'), { env }), 'http://p:1/');
  });

  it('refuses a proxy that is not http://, naming where it came from', () => {
    for (const [settings, where] of [
      [{ env: { HTTPS_PROXY: 'https://proxy:443' } }, 'HTTPS_PROXY'],
      [{ env: { HTTPS_PROXY: 'socks5://proxy:1080' } }, 'HTTPS_PROXY'],
      [{ proxy: 'http://' }, 'proxy'],
    ] as const) {
      assert.throws(
        () => proxyFor(url('https://hf.co/x'), settings),
        (error: unknown) => isDownloadError(error) && error.code === 'scheme_not_allowed' && error.message.startsWith(where),
      );
    }
  });
});

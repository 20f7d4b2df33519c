/**
 * The dashboard's client, built from `web/` with esbuild when the server starts (in memory, about a tenth of a
 * second; nothing is downloaded and no build step precedes `npm start`), minified and gzipped once per process.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { build } from 'esbuild';

const gzipAsync = promisify(gzip);

/** One file of the client as it is served. */
export interface Asset {
  body: Buffer;
  gzipped: Buffer;
  contentType: string;
  /** Strong ETag of the body. */
  etag: string;
}

/** The page and its script and styles. */
export interface DashboardBundle {
  html: Asset;
  js: Asset;
  css: Asset;
}

let built: Promise<DashboardBundle> | undefined;

/** Builds the client once per process; later calls share the result. */
export function dashboardBundle(): Promise<DashboardBundle> {
  built ??= buildBundle().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
}

/** The `web/` directory: the first ancestor of this file that holds `web/main.tsx` (source tree or dist). */
export function webDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'web', 'main.tsx'))) return join(dir, 'web');
    const parent = dirname(dir);
    if (parent === dir) throw new Error('the dashboard client (web/main.tsx) was not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

async function buildBundle(): Promise<DashboardBundle> {
  const web = webDirectory();
  const result = await build({
    entryPoints: { app: join(web, 'main.tsx') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(web, 'tsconfig.json'),
    legalComments: 'none',
    outdir: '/dashboard',
    write: false,
    logLevel: 'silent',
  });
  const file = (suffix: string): Uint8Array => {
    const out = result.outputFiles.find((f) => f.path.endsWith(suffix));
    if (!out) throw new Error(`the dashboard build produced no ${suffix}`);
    return out.contents;
  };
  const [html, js, css] = await Promise.all([
    readFile(join(web, 'index.html')).then((b) => asset(b, 'text/html; charset=utf-8')),
    asset(file('.js'), 'text/javascript; charset=utf-8'),
    asset(file('.css'), 'text/css; charset=utf-8'),
  ]);
  return { html, js, css };
}

async function asset(contents: Uint8Array, contentType: string): Promise<Asset> {
  const body = Buffer.from(contents);
  return {
    body,
    gzipped: await gzipAsync(body, { level: 9 }),
    contentType,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}

import { Worker } from 'node:worker_threads';
const url = new URL('./w.ts', import.meta.url);
for (const [name, make] of [
  ['path string', () => new Worker(url.pathname)],
  ['tsx esm api eval', () => new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })],
] as const) {
  const w = make();
  w.on('message', (m) => { console.log(name, 'got', m); void w.terminate(); });
  w.on('error', (e) => console.log(name, 'err', e.message));
}

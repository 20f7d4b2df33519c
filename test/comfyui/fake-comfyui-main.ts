/**
 * Stands in for ComfyUI's `python main.py` in the managed-process tests: a real child process that takes
 * `--port N` (and ComfyUI flags such as `--lowvram`), appends its arguments as one JSON line to the `--record` file,
 * serves GET /system_stats with its argv (as ComfyUI does) and POST /free, and prints ComfyUI's "To see the GUI go
 * to" line once it listens; like ComfyUI's argparse it exits with code 2 when given two VRAM flags (`--highvram
 * --lowvram`). With `--ignore-sigterm` it survives SIGTERM (to test the SIGKILL that follows).
 *
 * Run: node --import tsx test/comfyui/fake-comfyui-main.ts --port 8188 --record /tmp/argv.jsonl [--lowvram]
 */
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const port = Number(option('--port'));
const record = option('--record');
if (record) appendFileSync(record, `${JSON.stringify({ pid: process.pid, args })}\n`);
// comfy/cli_args.py's vram_group is mutually exclusive: argparse rejects a second one and exits with code 2.
const vramFlags = args.filter((arg) => ['--gpu-only', '--highvram', '--normalvram', '--lowvram', '--novram', '--cpu'].includes(arg));
if (vramFlags.length > 1) {
  console.error(`usage: main.py [-h] ...\nmain.py: error: argument ${vramFlags[1]}: not allowed with argument ${vramFlags[0]}`);
  process.exit(2);
}
if (args.includes('--ignore-sigterm')) {
  process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/system_stats') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        system: { os: 'posix', comfyui_version: '0.3.60', argv: ['main.py', ...args] },
        devices: [{ name: 'cuda:0 Fake GPU', type: 'cuda', index: 0, vram_total: 16 * 1024 ** 3, vram_free: args.includes('--lowvram') ? 12 * 1024 ** 3 : 4 * 1024 ** 3 }],
      }),
    );
    return;
  }
  if (request.method === 'POST' && request.url === '/free') {
    request.resume();
    response.writeHead(200);
    response.end();
    return;
  }
  response.writeHead(404);
  response.end();
});
server.listen(port, '127.0.0.1', () => console.log(`To see the GUI go to: http://127.0.0.1:${port}`));

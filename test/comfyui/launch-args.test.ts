// ComfyUI's VRAM flags are one argparse mutually exclusive group (comfy/cli_args.py): the flags an offload mode adds
// must replace a configured one, or ComfyUI exits with code 2. Checked with Python's argparse on ComfyUI's own group
// declaration (comfyui_vram_group.py), and with a managed stand-in that exits like ComfyUI does.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_OFFLOAD_ARGS } from '../../src/adapters/comfyui/comfyui-config.js';
import { VRAM_MODE_FLAGS, withLaunchFlags } from '../../src/adapters/comfyui/launch-args.js';
import { OFFLOAD_MODES } from '../../src/core/recovery-policy.js';
import { LIMIT } from './helpers.js';

const GROUP = fileURLToPath(new URL('./comfyui_vram_group.py', import.meta.url));
const run = promisify(execFile);

/** Exit code and the VRAM mode argparse settled on for `args`. */
async function argparse(args: readonly string[]): Promise<{ code: number; mode: string; stderr: string }> {
  try {
    const { stdout } = await run('python3', [GROUP, ...args]);
    return { code: 0, mode: stdout.trim(), stderr: '' };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, mode: '', stderr: failed.stderr ?? '' };
  }
}

test("argparse's rule is real: a mode's --lowvram after a configured --highvram makes ComfyUI exit with code 2", LIMIT, async () => {
  const plain = await argparse(['main.py', '--listen', '127.0.0.1', '--highvram', '--lowvram']);
  assert.equal(plain.code, 2);
  assert.match(plain.stderr, /argument --lowvram: not allowed with argument --highvram/);
});

test('every configured VRAM flag with every offload mode gives a command line ComfyUI accepts, in the mode asked for', LIMIT, async () => {
  for (const configured of VRAM_MODE_FLAGS) {
    for (const mode of OFFLOAD_MODES) {
      const added = DEFAULT_OFFLOAD_ARGS[mode];
      const args = withLaunchFlags(['main.py', '--port', '8188', configured], added);
      const parsed = await argparse(args);
      assert.equal(parsed.code, 0, `${args.join(' ')}: ${parsed.stderr}`);
      const expected = added.find((flag) => VRAM_MODE_FLAGS.includes(flag)) ?? configured;
      assert.equal(parsed.mode, expected.slice(2).replace('-', '_'), args.join(' '));
    }
  }
  // Flags outside the group are kept: --highvram with --disable-smart-memory (offload mode "model") is valid.
  assert.deepEqual(withLaunchFlags(['main.py', '--highvram'], ['--disable-smart-memory']), ['main.py', '--highvram', '--disable-smart-memory']);
});

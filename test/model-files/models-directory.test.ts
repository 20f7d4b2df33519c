import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isValidationError } from '../../src/core/validation.js';
import { isModelPathError } from '../../src/adapters/model-files/download-errors.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { makeTempDir, removeDir } from './helpers.js';

let base: string;

beforeEach(async () => {
  base = await makeTempDir();
});

afterEach(async () => {
  await removeDir(base);
});

async function rejectsPath(directory: ModelsDirectory, path: string, problem: RegExp): Promise<void> {
  await assert.rejects(directory.resolve(path), (error: unknown) => isModelPathError(error) && error.path === path && problem.test(error.problem));
}

describe('ModelsDirectory', () => {
  it('resolves catalog paths under the root with the flat layout', async () => {
    const directory = new ModelsDirectory({ root: join(base, 'models') });
    assert.deepEqual(await directory.resolve('diffusion_models/wan2.2_t2v.safetensors'), {
      catalogPath: 'diffusion_models/wan2.2_t2v.safetensors',
      absolutePath: join(base, 'models', 'diffusion_models', 'wan2.2_t2v.safetensors'),
      partPath: join(base, 'models', 'diffusion_models', 'wan2.2_t2v.safetensors.part'),
    });
  });

  it('maps subfolders with the ComfyUI layout and a custom one', () => {
    const comfy = new ModelsDirectory({ root: base, layout: 'comfyui' });
    assert.equal(comfy.locate('diffusion_models/wan.safetensors'), join(base, 'models', 'diffusion_models', 'wan.safetensors'));
    assert.equal(comfy.locate('vae/wan_vae.safetensors'), join(base, 'models', 'vae', 'wan_vae.safetensors'));
    assert.equal(comfy.locate('text_encoders/umt5.safetensors'), join(base, 'models', 'text_encoders', 'umt5.safetensors'));
    assert.equal(comfy.locate('other/x.bin'), join(base, 'other', 'x.bin'), 'unmapped folders stay as written');
    const custom = new ModelsDirectory({ root: base, layout: { name: 'mine', subfolders: { vae: 'shared/vae' } } });
    assert.equal(custom.locate('vae/a.bin'), join(base, 'shared', 'vae', 'a.bin'));
  });

  it('rejects layouts whose folders leave the root', () => {
    assert.throws(
      () => new ModelsDirectory({ root: base, layout: { name: 'bad', subfolders: { vae: '../vae' } } }),
      (error: unknown) => isValidationError(error) && /layout/.test(error.message) && /"\.\."/.test(error.message),
    );
  });

  it('rejects "..", absolute paths, backslashes, empty segments and the partial suffix', async () => {
    const directory = new ModelsDirectory({ root: base });
    await rejectsPath(directory, '../x.bin', /"\.\."/);
    await rejectsPath(directory, 'vae/../../x.bin', /"\.\."/);
    await rejectsPath(directory, '/etc/passwd', /absolute/);
    await rejectsPath(directory, 'C:/x.bin', /absolute/);
    await rejectsPath(directory, '..\\x.bin', /separator/);
    await rejectsPath(directory, 'vae//x.bin', /empty/);
    await rejectsPath(directory, './x.bin', /"\."/);
    await rejectsPath(directory, 'x.bin.part', /reserved/);
    await rejectsPath(directory, '', /non-empty/);
  });

  it('rejects symbolic links that lead out, and accepts those that stay inside', async () => {
    const root = join(base, 'models');
    const outside = join(base, 'outside');
    await mkdir(join(root, 'real'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await symlink(outside, join(root, 'out'));
    await symlink(join(root, 'real'), join(root, 'in'));
    await writeFile(join(outside, 'secret.bin'), 'x');
    await symlink(join(outside, 'secret.bin'), join(root, 'file-link.bin'));
    await symlink(join(base, 'nowhere'), join(root, 'dangling.bin'));
    await symlink(join(outside, 'p'), join(root, 'part-link.bin.part'));
    const directory = new ModelsDirectory({ root });

    await rejectsPath(directory, 'out/x.bin', /outside the models directory/);
    await rejectsPath(directory, 'out/deeper/still/x.bin', /outside the models directory/);
    await rejectsPath(directory, 'file-link.bin', /outside the models directory/);
    await rejectsPath(directory, 'dangling.bin', /symbolic link to nothing/);
    await rejectsPath(directory, 'part-link.bin', /symbolic link to nothing|outside/);
    assert.equal((await directory.resolve('in/x.bin')).absolutePath, join(root, 'in', 'x.bin'));
  });

  it('accepts a root that is itself a symbolic link', async () => {
    await mkdir(join(base, 'disk', 'models'), { recursive: true });
    await symlink(join(base, 'disk', 'models'), join(base, 'models'));
    const directory = new ModelsDirectory({ root: join(base, 'models') });
    assert.equal((await directory.resolve('vae/x.bin')).absolutePath, join(base, 'models', 'vae', 'x.bin'));
  });
});

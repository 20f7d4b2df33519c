import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes `bytes` to `outputDir/fileName` atomically: to a hidden temporary name in the same directory first, then
 * renamed into place, so readers never see a partial file. The temporary file is removed when writing fails.
 */
export async function writeOutputAtomically(outputDir: string, fileName: string, bytes: Uint8Array): Promise<string> {
  await mkdir(outputDir, { recursive: true });
  const target = join(outputDir, fileName);
  const temporary = join(outputDir, `.${fileName}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return target;
}

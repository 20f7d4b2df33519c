/** The files a config names: the catalog file and the CA file of model downloads, read and checked. */
import { readFile } from 'node:fs/promises';
import { createCatalog, parseCatalogText, type Catalog } from '../core/catalog.js';
import { ValidationError } from '../core/validation.js';
import { PEM_CERTIFICATE_LINE } from '../adapters/model-files/downloader.js';

/** The built-in catalog, with the catalog file (JSON or YAML) merged over it when one is given. */
export async function loadCatalog(file: string | undefined): Promise<Catalog> {
  const base = createCatalog();
  if (!file) return base;
  const text = await readFile(file, 'utf8');
  return parseCatalogText(text, /\.ya?ml$/i.test(file) ? 'yaml' : 'json', base, file);
}

/** The PEM text of `modelFiles.caFile`; a missing file or one without a certificate fails naming the field. */
export async function readCaFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError('config', [{ field: 'modelFiles.caFile', problem: `cannot read ${file}: ${(error as Error).message}` }]);
  }
  if (!text.includes(PEM_CERTIFICATE_LINE)) {
    throw new ValidationError('config', [{ field: 'modelFiles.caFile', problem: `${file} holds no PEM certificate (no "${PEM_CERTIFICATE_LINE}" line)` }]);
  }
  return text;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODELS, createCatalog, mergeCatalog, parseCatalogText } from '../../src/core/catalog.js';
import { isValidationError, type ValidationError } from '../../src/core/validation.js';

const base = createCatalog();

function catchValidation(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (isValidationError(error)) return error;
    throw error;
  }
  assert.fail('expected a ValidationError');
}

test('the default catalog holds the three Wan2.2 models with the reference figures', () => {
  assert.deepEqual(base.models.map((m) => m.id), ['t2v-A14B', 'i2v-A14B', 'ti2v-5B']);
  const i2v = base.byId.get('i2v-A14B')!;
  assert.equal(i2v.qualityRank, 0.95);
  assert.equal(i2v.baseVramGb, 9);
  assert.equal(i2v.sizeGb, 14);
  assert.equal(i2v.baseSeconds, 100);
  assert.equal(base.compatibility['t2v-A14B']!['ti2v-5B'], 0.8);
  assert.equal(base.compatibility['i2v-A14B']!['t2v-A14B'], 0.6);
});

test('a user catalog overrides fields of a known model and adds a complete new one', () => {
  const merged = mergeCatalog(base, {
    models: [
      { id: 'ti2v-5B', baseVramGb: 5.5 },
      {
        id: 'custom-1B',
        inputs: { text: 'required', image: 'unsupported' },
        capabilities: ['text_to_video', 'fast_generation'],
        qualityRank: 0.5,
        baseVramGb: 3,
        sizeGb: 2,
        baseSeconds: 30,
      },
    ],
    compatibility: { 't2v-A14B': { 'custom-1B': 0.6 } },
  });
  assert.equal(merged.byId.get('ti2v-5B')!.baseVramGb, 5.5);
  assert.equal(merged.byId.get('ti2v-5B')!.sizeGb, 8, 'fields not overridden keep their values');
  assert.equal(merged.byId.get('custom-1B')!.qualityRank, 0.5);
  assert.equal(merged.compatibility['t2v-A14B']!['custom-1B'], 0.6);
  assert.equal(merged.compatibility['t2v-A14B']!['ti2v-5B'], 0.8, 'other table entries are kept');
  assert.equal(base.byId.get('ti2v-5B')!.baseVramGb, 6, 'the base catalog is not changed');
});

test('a bad field is reported with its path, the value found and what was expected', () => {
  const error = catchValidation(() => mergeCatalog(base, { models: [{ id: 'ti2v-5B' }, { id: 't2v-A14B', baseVramGb: -3 }] }));
  assert.equal(error.issues.length, 1);
  assert.equal(error.issues[0]!.field, 'models[1].baseVramGb');
  assert.equal(error.issues[0]!.received, -3);
  assert.match(error.issues[0]!.problem, />0/);
  assert.match(error.message, /models\[1\]\.baseVramGb/);
});

test('a new model missing fields names each missing field', () => {
  const error = catchValidation(() => mergeCatalog(base, { models: [{ id: 'new-model', sizeGb: 3 }] }));
  const fields = error.issues.map((i) => i.field).sort();
  assert.deepEqual(fields, ['models[0].baseSeconds', 'models[0].baseVramGb', 'models[0].capabilities', 'models[0].inputs', 'models[0].qualityRank']);
});

test('an unknown capability lists what is allowed', () => {
  const error = catchValidation(() => mergeCatalog(base, { models: [{ id: 'ti2v-5B', capabilities: ['teleport'] }] }));
  assert.equal(error.issues[0]!.field, 'models[0].capabilities[0]');
  assert.match(error.issues[0]!.problem, /text_to_video/);
  assert.equal(error.issues[0]!.received, 'teleport');
});

test('unknown top-level keys and duplicate ids are rejected', () => {
  assert.throws(() => mergeCatalog(base, { modells: [] }), (e: unknown) => isValidationError(e) && /modells/.test(e.message));
  const dup = catchValidation(() => mergeCatalog(base, { models: [{ id: 'ti2v-5B', sizeGb: 1 }, { id: 'ti2v-5B', sizeGb: 2 }] }));
  assert.equal(dup.issues[0]!.field, 'models[1].id');
});

test('file paths that could escape the models directory are rejected', () => {
  for (const path of ['../etc/passwd', '/abs/file.safetensors', 'a/../../b', 'C:/x', 'a\\b']) {
    const error = catchValidation(() =>
      mergeCatalog(base, {
        models: [{ id: 'ti2v-5B', files: [{ path, sizeBytes: 1, sha256: 'a'.repeat(64), urls: ['https://example.test/f'] }] }],
      }),
    );
    assert.equal(error.issues[0]!.field, 'models[0].files[0].path', path);
  }
  const error = catchValidation(() =>
    mergeCatalog(base, { models: [{ id: 'ti2v-5B', files: [{ path: 'ok.bin', sizeBytes: 1, sha256: 'a'.repeat(64), urls: ['ftp://x/f'] }] }] }),
  );
  assert.equal(error.issues[0]!.field, 'models[0].files[0].urls[0]');
});

test('YAML and JSON catalog text parse; broken text is a clear error', () => {
  const yaml = parseCatalogText('models:\n  - id: ti2v-5B\n    baseSeconds: 60\n', 'yaml', base, 'models.yaml');
  assert.equal(yaml.byId.get('ti2v-5B')!.baseSeconds, 60);
  const json = parseCatalogText('{"models":[{"id":"ti2v-5B","baseSeconds":70}]}', 'json', base, 'models.json');
  assert.equal(json.byId.get('ti2v-5B')!.baseSeconds, 70);
  const error = catchValidation(() => parseCatalogText('{"models": [', 'json', base, 'models.json'));
  assert.match(error.message, /models\.json.*not valid JSON/);
});

test('replaceDefaults starts from an empty catalog', () => {
  const only = mergeCatalog(base, { replaceDefaults: true, models: [{ ...DEFAULT_MODELS[2]!, id: 'solo' }] });
  assert.deepEqual(only.models.map((m) => m.id), ['solo']);
  assert.deepEqual(only.compatibility, {});
});

// Lint rules: the recommended sets of ESLint and typescript-eslint, type-aware where it catches real bugs
// (floating promises, misused promises), and the layers of ../shared/DESIGN.md as import rules: core imports only core;
// runtime imports core and itself; adapters implement runtime's ports (values only from the port modules, types from
// anywhere in runtime); interfaces use the engine's public API; only src/composition/ wires adapters in.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';


/** Runtime modules that are ports: the interfaces, records, errors and helpers an adapter implements against (the job
 * lifecycle, job-transitions, is part of the job-store port: every store applies it; the heartbeat schema is the record a
 * worker directory holds, checked when read back). */
const RUNTIME_PORTS = ['backend', 'job', 'job-store', 'job-store-errors', 'job-transitions', 'recovery-target', 'model-file-store', 'worker-heartbeat-schema'];

/** Runtime modules that make up the engine's public API, for interfaces. */
const ENGINE_API = ['understudy', 'job', 'job-store', 'job-store-errors', 'request-queue', 'engine-events', 'generation-input', 'queue-status'];

/** Import patterns (gitignore style, on the import string) a layer must not use. */
const layer = (message, ...groups) => groups.map((group) => ({ group, message }));
const outsideOf = (folder, allowed) => [`**/${folder}/*`, ...allowed.map((name) => `!**/${folder}/${name}.js`)];

const LAYER_RULES = [
  {
    files: ['src/core/**/*.ts'],
    patterns: layer('core holds pure decisions and imports only core', ['**/runtime/**', '**/adapters/**', '**/interfaces/**', '**/composition/**']),
  },
  {
    files: ['src/runtime/**/*.ts'],
    patterns: layer('runtime depends on ports, never on adapters, interfaces or the composition root', ['**/adapters/**', '**/interfaces/**', '**/composition/**']),
  },
  {
    files: ['src/adapters/**/*.ts'],
    patterns: [
      ...layer('adapters never import interfaces or the composition root', ['**/interfaces/**', '**/composition/**']),
      {
        group: outsideOf('runtime', RUNTIME_PORTS),
        allowTypeImports: true,
        message: `adapters import runtime's ports (${RUNTIME_PORTS.join(', ')}) and types only, not runtime implementations`,
      },
    ],
  },
  {
    files: ['src/interfaces/**/*.ts'],
    patterns: [
      ...layer('interfaces talk to the engine, not to adapters (the composition root builds it)', ['**/adapters/**']),
      {
        group: outsideOf('runtime', ENGINE_API),
        allowTypeImports: true,
        message: `interfaces use the engine's public API (${ENGINE_API.join(', ')}); other runtime modules for types only`,
      },
    ],
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', '.understudy/', '.bench-build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...LAYER_RULES.map(({ files, patterns }) => ({
    files,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
  })),
  {
    // The dashboard's client runs in the browser: no Node globals (its tsconfig has Node's types only because the
    // server files it imports types from mention them).
    files: ['web/**/*.ts', 'web/**/*.tsx'],
    rules: { 'no-restricted-globals': ['error', 'process', 'Buffer', 'require', '__dirname', '__filename', 'global', 'setImmediate'] },
  },
);

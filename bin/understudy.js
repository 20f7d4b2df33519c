#!/usr/bin/env node
// The `understudy` command: runs the TypeScript sources through tsx's ESM loader, no build step needed.
import { register } from 'tsx/esm/api';

register();
await import('../src/interfaces/cli/main.ts');

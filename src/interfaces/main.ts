/**
 * What `npm start` runs: the Understudy service on embedded defaults (SQLite in ./data, a simulated 24 GB GPU with
 * ti2v-5B installed), configured by understudy.config.yaml/.json, UNDERSTUDY_* variables and flags.
 */
import { Command } from 'commander';
import { CliError } from './cli/exit-codes.js';
import { serve, withServeOptions } from './cli/serve.js';
import type { ConfigFlags } from './config.js';

const program = withServeOptions(new Command('understudy-server').description('Runs the Understudy service')).action(
  async (flags: ConfigFlags) => serve(flags),
);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof CliError ? error.exitCode : 1;
});

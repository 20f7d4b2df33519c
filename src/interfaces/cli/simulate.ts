/** `understudy simulate <trace>`: replays a trace on the real engine with a virtual clock and writes a report. */
import { Option, type Command } from 'commander';
import { POLICIES, type Policy } from '../../simulation/run-trace.js';
import { simulate } from '../../simulation/simulate.js';
import { loadTrace } from '../../simulation/trace.js';

/** Adds the simulate command to `program`. */
export function addSimulateCommand(program: Command): void {
  program
    .command('simulate <trace>')
    .description('replay a trace file (YAML or JSON) on the real engine with simulated GPUs and a virtual clock; write a report')
    .option('-o, --out <dir>', 'report directory', 'report')
    .addOption(new Option('--policy <name...>', 'policies to compare (default all)').choices(POLICIES))
    .action(async (file: string, opts: { out: string; policy?: Policy[] }) => {
      const trace = await loadTrace(file);
      const report = await simulate(trace, opts.out, opts.policy ?? POLICIES, (m) =>
        process.stderr.write(`  ${m.policy}: ${m.accepted} jobs simulated in ${m.wallSeconds.toFixed(1)} s\n`),
      );
      process.stdout.write(`${report.table}\nreport: ${report.files.html} (table: ${report.files.table}, data: ${report.files.json})\n`);
    });
}

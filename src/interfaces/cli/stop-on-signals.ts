/** How `serve` and `worker` stop: the first SIGTERM or SIGINT stops gracefully, a second one exits at once. */
import { ExitCode } from './exit-codes.js';

/** What a process says while it stops, and how it stops. */
export interface StopOnSignalsOptions {
  /** Stops everything gracefully; the process exits 0 once it resolves, 1 (server error) if it rejects. */
  stop: () => Promise<void>;
  /** Printed after the signal's name on the first signal, e.g. "shutting down; running jobs get up to 30 s ...". */
  stopping: string;
  /** Printed after the signal's name on the second signal, before exiting 130 at once. */
  abandoning: string;
}

/** Installs the SIGTERM and SIGINT handlers of a long-running command. */
export function stopOnSignals(options: StopOnSignalsOptions): void {
  const out = process.stdout;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: ${options.abandoning}\n`);
      process.exit(130);
    }
    stopping = true;
    out.write(`${signal}: ${options.stopping}\n`);
    options.stop().then(
      () => {
        out.write('stopped\n');
        process.exit(ExitCode.ok);
      },
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(ExitCode.serverError);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

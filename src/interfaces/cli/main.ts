/** Entry point of the `understudy` command (bin/understudy.js runs it through tsx). */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);

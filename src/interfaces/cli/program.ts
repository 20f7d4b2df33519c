/**
 * The `understudy` command's commands. Every command but serve and init talks to a server over HTTP and WebSocket only
 * (--url, --token; env UNDERSTUDY_URL, UNDERSTUDY_TOKEN). Human output by default, --json for scripts; the exit
 * status says what happened (see exit-codes.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isValidationError } from '../../core/validation.js';
import { FAILURE_TYPES, PRIORITIES, QUALITIES, SPEEDS } from '../../core/vocabulary.js';
import type { RecoveryStatistics } from '../../runtime/recovery/fallback-recovery-system.js';
import { JOB_STATES } from '../../runtime/job.js';
import { writeStarterConfig } from '../config.js';
import type { AlternativesView, FallbackStrategyView, HealthView, WaitTimeView } from '../http/record-schemas.js';
import type { WorkersView } from '../http/routes-system.js';
import type { Accepted, JobPageView, JobView, ModelView } from '../http/schemas.js';
import { ApiClient } from './client.js';
import { CliError, ExitCode } from './exit-codes.js';
import { followJobs } from './follow.js';
import { followDownload } from './follow-download.js';
import { formatWorkers } from './format-workers.js';
import type { VerifiedModel } from '../../runtime/model-file-store.js';
import {
  formatAlternatives,
  formatHealth,
  formatJob,
  formatJobs,
  formatModels,
  formatEstimate,
  formatOutcome,
  formatPlan,
  formatQueue,
  formatRecoveryStats,
  formatStrategy,
  formatTimeline,
  formatWait,
} from './format.js';
import { StatusLine } from './progress-bar.js';
import { serve, withServeOptions } from './serve.js';
import { addSimulateCommand } from './simulate.js';
import { runWorker, withWorkerOptions } from './worker.js';

interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

/** Builds the program; {@link runCli} runs it. */
export function buildProgram(): Command {
  const program = new Command('understudy')
    .description('Understudy: video generation that plans around missing models, full GPUs and crashed pipelines')
    .addOption(new Option('--url <url>', 'server URL').env('UNDERSTUDY_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--token <token>', 'bearer token').env('UNDERSTUDY_TOKEN'))
    .option('--json', 'print JSON for scripts instead of text')
    .showHelpAfterError()
    .exitOverride();

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const client = (): ApiClient => new ApiClient(globals().url, globals().token);
  const print = (value: unknown, human: () => string): void => {
    process.stdout.write(`${globals().json ? JSON.stringify(value, null, 2) : human()}\n`);
  };

  withServeOptions(program.command('serve').description('run the server (see also npm start)')).action(async (flags: object) => serve(flags));
  withWorkerOptions(program.command('worker').description('run a worker on a Redis store: jobs on this machine\'s backends, no port')).action(async (flags: object) => runWorker(flags));
  addSimulateCommand(program);

  program
    .command('init')
    .description('write a commented starter config')
    .option('--path <file>', 'where to write it', 'understudy.config.yaml')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { path: string; force?: boolean }) => {
      await writeStarterConfig(opts.path, opts.force);
      print({ written: opts.path }, () => `wrote ${opts.path}; edit it, then: understudy serve`);
    });

  program
    .command('submit')
    .description('submit a generation, follow it to the end, print the outcome and timeline')
    .requiredOption('-m, --model <id>', 'model to generate with, e.g. t2v-A14B')
    .option('-p, --prompt <text>', 'text prompt', '')
    .option('--negative-prompt <text>', 'what to avoid')
    .option('-i, --image <file>', 'input image (PNG, JPEG or WebP)')
    .option('-r, --resolution <WxH>', 'e.g. 1280x720')
    .addOption(new Option('-q, --quality <level>').choices(QUALITIES))
    .addOption(new Option('--speed <level>').choices(SPEEDS))
    .option('--frames <n>', 'frames to generate', toInt)
    .option('--steps <n>', 'sampling steps', toInt)
    .option('--seed <n>', 'random seed', toInt)
    .addOption(new Option('--priority <level>').choices(PRIORITIES))
    .option('--max-wait <seconds>', 'longest acceptable time to the result', toNumber)
    .option('--no-alternatives', 'never run another model')
    .option('--no-quality-reduction', 'never reduce resolution, frames, steps or quality')
    .option('--no-mock', 'never answer with a labelled preview')
    .option('-d, --detach', 'print the plan and return without following')
    .option('-o, --save <file>', 'save the output file here when it succeeds')
    .action(async (opts: SubmitOptions) => {
      const api = client();
      const body = {
        model: opts.model,
        prompt: opts.prompt,
        ...(opts.negativePrompt ? { negativePrompt: opts.negativePrompt } : {}),
        ...(opts.image ? { image: await imageDataUrl(opts.image) } : {}),
        ...(opts.resolution ? { resolution: opts.resolution } : {}),
        ...(opts.quality ? { quality: opts.quality } : {}),
        ...(opts.speed ? { speed: opts.speed } : {}),
        ...(opts.frames !== undefined ? { numFrames: opts.frames } : {}),
        ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(opts.priority ? { priority: opts.priority } : {}),
        ...(opts.maxWait !== undefined ? { maxWaitTimeSeconds: opts.maxWait } : {}),
        allowAlternatives: opts.alternatives,
        allowQualityReduction: opts.qualityReduction,
        allowMock: opts.mock,
      };
      const accepted = await api.request<Accepted>('POST', '/v1/generations', body);
      const json = globals().json;
      if (!json) {
        process.stdout.write(`accepted ${accepted.id} (${accepted.status}${accepted.queuePosition ? `, position ${accepted.queuePosition} in the queue` : ''})\n${formatPlan(accepted.plan)}\n`);
        if (accepted.alternativeId) process.stdout.write(`hybrid: ${accepted.alternativeId} runs on ${accepted.plan.model} now; ${accepted.id} waits for ${opts.model}\n`);
        if (accepted.estimate) process.stdout.write(`${formatEstimate(accepted.estimate)}\n`);
      }
      if (opts.detach) {
        if (json) print(accepted, () => '');
        return;
      }
      const ids = accepted.alternativeId ? [accepted.alternativeId, accepted.id] : [accepted.id];
      const finals = await followJobs(api, ids, opts.model, new StatusLine(json ? devNull() : process.stdout));
      if (opts.save) {
        const done = finals.find((j) => j.status === 'succeeded' && j.id === accepted.id) ?? finals.find((j) => j.status === 'succeeded');
        if (done?.output) await writeFile(opts.save, Buffer.from(await (await api.fetch(done.output.url)).arrayBuffer()));
      }
      print({ accepted, generations: finals }, () =>
        finals.map((j) => `${j.id}: ${formatOutcome(j)}\ntimeline:\n${formatTimeline(j)}`).join('\n') + (opts.save ? `\nsaved to ${opts.save}` : ''),
      );
      const unfinished = finals.find((j) => j.status !== 'succeeded');
      if (unfinished) throw new CliError(ExitCode.jobFailed, `generation ${unfinished.id} ${formatOutcome(unfinished)}`);
    });

  program
    .command('jobs')
    .description('list generations, oldest first')
    .addOption(new Option('--status <state>').choices(JOB_STATES))
    .option('--limit <n>', 'most to list', toInt, 50)
    .option('--cursor <cursor>', 'next page, as printed by the previous one')
    .action(async (opts: { status?: string; limit: number; cursor?: string }) => {
      const query = new URLSearchParams({ limit: String(opts.limit), ...(opts.status ? { status: opts.status } : {}), ...(opts.cursor ? { cursor: opts.cursor } : {}) });
      const page = await client().request<JobPageView>('GET', `/v1/generations?${query.toString()}`);
      print(page, () => formatJobs(page.generations, page.total, page.nextCursor));
    });

  program
    .command('job <id>')
    .description('a generation: status, plan, output and timeline')
    .action(async (id: string) => {
      const job = await client().request<JobView>('GET', `/v1/generations/${encodeURIComponent(id)}`);
      print(job, () => formatJob(job));
    });

  program
    .command('cancel <id>')
    .description('cancel a generation')
    .action(async (id: string) => {
      const job = await client().request<JobView>('DELETE', `/v1/generations/${encodeURIComponent(id)}`);
      print(job, () => `${job.id}: ${formatOutcome(job)}`);
    });

  program
    .command('models')
    .description('the catalog, with availability and downloads')
    .action(async () => {
      const models = await client().request<ModelView[]>('GET', '/v1/models');
      print(models, () => formatModels(models));
    });

  program
    .command('alternatives <model>')
    .description('stand-ins for a model, best first, and the models ruled out')
    .option('-r, --resolution <WxH>', 'e.g. 1920x1080')
    .addOption(new Option('-q, --quality <level>').choices(QUALITIES))
    .addOption(new Option('--speed <level>').choices(SPEEDS))
    .option('--image', 'the request carries an input image')
    .action(async (model: string, opts: { resolution?: string; quality?: string; speed?: string; image?: boolean }) => {
      const query = new URLSearchParams({
        ...(opts.resolution ? { resolution: opts.resolution } : {}),
        ...(opts.quality ? { quality: opts.quality } : {}),
        ...(opts.speed ? { speed: opts.speed } : {}),
        ...(opts.image ? { image: 'true' } : {}),
      });
      const ranked = await client().request<AlternativesView>('GET', `/v1/models/${encodeURIComponent(model)}/alternatives?${query.toString()}`);
      print(ranked, () => formatAlternatives(ranked));
    });

  program
    .command('download <model>')
    .description('download a model (resuming partial files) with a progress bar: percent, speed, ETA')
    .action(async (model: string) => {
      const json = globals().json;
      await followDownload(client(), model, new StatusLine(json ? devNull() : process.stdout));
      print({ modelId: model, status: 'available' }, () => `${model} is available`);
    });

  program
    .command('verify <model>')
    .description("check every file of a model by sha256 (models whose files Understudy manages)")
    .action(async (model: string) => {
      const result = await client().request<VerifiedModel>('POST', `/v1/models/${encodeURIComponent(model)}/verify`);
      print(result, () =>
        [`${model}: ${result.status.status}`, ...result.files.map((f) => `  ${f.verified ? 'ok ' : 'BAD'} ${f.path} (${f.status}${f.detail ? `: ${f.detail}` : ''})`)].join('\n'),
      );
      if (result.status.status !== 'available') throw new CliError(ExitCode.jobFailed, `${model} is ${result.status.status}`);
    });

  program
    .command('wait-time <model>')
    .description('how long until a model can serve a new request')
    .action(async (model: string) => {
      const wait = await client().request<WaitTimeView>('GET', `/v1/models/${encodeURIComponent(model)}/wait-time`);
      print(wait, () => formatWait(wait));
    });

  program
    .command('strategy <model>')
    .description('the plan the server would make now for a request, without submitting it')
    .addOption(new Option('--failure <type>', 'plan around this failure').choices(FAILURE_TYPES))
    .option('--error <message>', 'the error seen')
    .option('-r, --resolution <WxH>', 'e.g. 1920x1080')
    .addOption(new Option('-q, --quality <level>').choices(QUALITIES))
    .option('--image', 'the request carries an input image')
    .action(async (model: string, opts: { failure?: string; error?: string; resolution?: string; quality?: string; image?: boolean }) => {
      const strategy = await client().request<FallbackStrategyView>('POST', '/v1/fallback-strategy', {
        model,
        ...(opts.failure ? { failureType: opts.failure } : {}),
        ...(opts.error ? { errorMessage: opts.error } : {}),
        requirements: { ...(opts.resolution ? { resolution: opts.resolution } : {}), ...(opts.quality ? { quality: opts.quality } : {}), ...(opts.image ? { hasImage: true } : {}) },
      });
      print(strategy, () => formatStrategy(strategy));
    });

  program
    .command('queue')
    .description('jobs waiting, in all and by model')
    .action(async () => {
      const queue = await client().request<Parameters<typeof formatQueue>[0]>('GET', '/v1/queue');
      print(queue, () => formatQueue(queue));
    });

  program
    .command('workers')
    .description('the live workers of a cluster: slots, GPU memory, models installed and downloading')
    .action(async () => {
      const workers = await client().request<WorkersView>('GET', '/v1/workers');
      print(workers, () => formatWorkers(workers, Date.now()));
    });

  program
    .command('health')
    .description("the server machine's health, checked now")
    .action(async () => {
      const health = await client().request<HealthView>('GET', '/v1/health');
      print(health, () => formatHealth(health));
    });

  const recovery = program.command('recovery').description('recovery statistics and reset');
  recovery
    .command('stats')
    .description('recovery attempts and outcomes')
    .action(async () => {
      const stats = await client().request<RecoveryStatistics>('GET', '/v1/recovery/stats');
      print(stats, () => formatRecoveryStats(stats));
    });
  recovery
    .command('reset')
    .description('clear cooldowns, circuit breakers, preview mode and statistics')
    .action(async () => {
      const stats = await client().request<RecoveryStatistics>('POST', '/v1/recovery/reset');
      print(stats, () => `recovery state reset\n${formatRecoveryStats(stats)}`);
    });

  return program;
}

interface SubmitOptions {
  model: string;
  prompt: string;
  negativePrompt?: string;
  image?: string;
  resolution?: string;
  quality?: string;
  speed?: string;
  frames?: number;
  steps?: number;
  seed?: number;
  priority?: string;
  maxWait?: number;
  alternatives: boolean;
  qualityReduction: boolean;
  mock: boolean;
  detach?: boolean;
  save?: string;
}

/** Runs a command line (`process.argv` style); resolves with the exit status. */
export async function runCli(argv: readonly string[]): Promise<ExitCode> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end "with an error" in commander's terms; they are not failures.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    if (isValidationError(error)) {
      process.stderr.write(`error: ${error.message}\n`);
      return ExitCode.badInput;
    }
    if (error instanceof CliError) {
      if (program.opts<GlobalOptions>().json && error.body !== undefined) process.stdout.write(`${JSON.stringify(error.body, null, 2)}\n`);
      process.stderr.write(`error: ${error.message}\n${error.details.map((d) => `  ${d}\n`).join('')}`);
      return error.exitCode;
    }
    throw error;
  }
}

function toInt(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new CliError(ExitCode.badInput, `expected a whole number, received ${JSON.stringify(value)}`);
  return Number(value);
}

function toNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new CliError(ExitCode.badInput, `expected a number, received ${JSON.stringify(value)}`);
  return n;
}

async function imageDataUrl(path: string): Promise<string> {
  const type = IMAGE_TYPES[extname(path).toLowerCase()];
  if (!type) throw new CliError(ExitCode.badInput, `--image: expected a .png, .jpg, .jpeg or .webp file, received ${path}`);
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(ExitCode.badInput, `--image: cannot read ${path} (${error.code ?? error.message})`);
  });
  return `data:${type};base64,${bytes.toString('base64')}`;
}

function devNull(): NodeJS.WriteStream {
  return { isTTY: false, columns: 80, write: () => true } as unknown as NodeJS.WriteStream;
}

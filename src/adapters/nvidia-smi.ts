/**
 * GPU readings from `nvidia-smi`. The CSV parser is pure and tested on recorded output; the query runs the binary
 * with a timeout and treats a missing binary as "no GPU information", not as an error.
 */
import { execFile } from 'node:child_process';
import type { GpuDevice } from '../runtime/recovery/health-monitor.js';

/** Arguments that make nvidia-smi print one CSV line per GPU, memory in MiB, without header or units. */
export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu',
  '--format=csv,noheader,nounits',
] as const;

const FIELD_COUNT = 7;

/** nvidia-smi printed something that is not the expected CSV. */
export class NvidiaSmiParseError extends Error {
  override readonly name = 'NvidiaSmiParseError';

  constructor(
    readonly line: string,
    reason: string,
  ) {
    super(`unexpected nvidia-smi output line ${JSON.stringify(line)}: ${reason}`);
  }
}

/** True when `error` is an {@link NvidiaSmiParseError}. */
export function isNvidiaSmiParseError(error: unknown): error is NvidiaSmiParseError {
  return error instanceof NvidiaSmiParseError;
}

/**
 * Parses `nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu
 * --format=csv,noheader,nounits` output. Values nvidia-smi cannot report ("[N/A]", "[Not Supported]", "N/A") become
 * null. A name containing commas is kept whole. Blank lines are ignored.
 */
export function parseNvidiaSmiCsv(output: string): GpuDevice[] {
  return output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const cells = line.split(',').map((cell) => cell.trim());
      if (cells.length < FIELD_COUNT) throw new NvidiaSmiParseError(line, `expected ${FIELD_COUNT} fields, found ${cells.length}`);
      const numbers = cells.slice(-5);
      const nameCells = cells.slice(1, cells.length - 5);
      const index = Number(cells[0]);
      if (!Number.isInteger(index)) throw new NvidiaSmiParseError(line, 'the first field is not a GPU index');
      const [total, used, free, utilization, temperature] = numbers.map((cell) => optionalNumber(cell, line));
      return {
        index,
        name: nameCells.join(', '),
        memoryTotalMib: total ?? null,
        memoryUsedMib: used ?? null,
        memoryFreeMib: free ?? null,
        utilizationPercent: utilization ?? null,
        temperatureC: temperature ?? null,
      };
    });
}

function optionalNumber(cell: string, line: string): number | null {
  if (/^\[?(N\/A|Not Supported|Unknown Error|Insufficient Permissions)\]?$/i.test(cell)) return null;
  const value = Number(cell);
  if (cell === '' || !Number.isFinite(value)) throw new NvidiaSmiParseError(line, `${JSON.stringify(cell)} is not a number`);
  return value;
}

/** What a query found: GPUs, no nvidia-smi at all, or an nvidia-smi that failed (usually a driver problem). */
export type NvidiaSmiResult =
  | { readonly status: 'ok'; readonly gpus: GpuDevice[] }
  | { readonly status: 'absent' }
  | { readonly status: 'failed'; readonly error: string };

/** Runs a command and resolves with its standard output. */
export type CommandRunner = (file: string, args: readonly string[], timeoutMs: number) => Promise<string>;

/** Options of {@link queryNvidiaSmi}. */
export interface NvidiaSmiOptions {
  /** Binary to run; default `nvidia-smi` from PATH. */
  readonly binary?: string;
  /** Kill nvidia-smi after this long; default 5000 ms (it can hang when the driver is wedged). */
  readonly timeoutMs?: number;
  /** How to run it; defaults to child_process.execFile. Tests inject recorded output. */
  readonly run?: CommandRunner;
}

/** Queries nvidia-smi. Never rejects: a missing binary is `absent`, any other problem is `failed` with the reason. */
export async function queryNvidiaSmi(options: NvidiaSmiOptions = {}): Promise<NvidiaSmiResult> {
  const run = options.run ?? execFileRunner;
  try {
    const output = await run(options.binary ?? 'nvidia-smi', NVIDIA_SMI_ARGS, options.timeoutMs ?? 5000);
    return { status: 'ok', gpus: parseNvidiaSmiCsv(output) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'absent' };
    const stdout = (error as { stdout?: unknown }).stdout;
    const detail = typeof stdout === 'string' && stdout.trim() !== '' ? stdout.trim() : (error as Error).message;
    return { status: 'failed', error: `nvidia-smi failed: ${detail}` };
  }
}

const execFileRunner: CommandRunner = (file, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: timeoutMs, windowsHide: true }, (error, stdout) => {
      if (error) reject(Object.assign(error, { stdout }));
      else resolve(stdout);
    });
  });

import type { z } from 'zod';

/** One problem with an input: where it is, what is wrong and what was allowed, and the value received. */
export interface ValidationIssue {
  /** Path of the bad field, e.g. `models[1].baseVramGb`; empty for the input as a whole. */
  field: string;
  /** What is wrong and what is allowed, in plain words. */
  problem: string;
  /**
   * The value found there, when there was one: as sent when its JSON is short ({@link MAX_RECEIVED_JSON} characters),
   * else a shortened JSON preview string, so that an error never echoes a huge or deeply nested input back.
   */
  received?: unknown;
}

/** Thrown when input (a request, a catalog, a config) does not match its schema. Nothing partial is kept. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';

  constructor(
    /** What was being validated, e.g. "catalog file models.yaml". */
    readonly subject: string,
    readonly issues: ValidationIssue[],
  ) {
    super(`Invalid ${subject}: ${issues.map(describeIssue).join('; ')}`);
  }
}

/** Type guard for {@link ValidationError}. */
export function isValidationError(error: unknown): error is ValidationError {
  return error instanceof ValidationError;
}

/** Formats a path such as `['models', 1, 'vram']` as `models[1].vram`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/**
 * Turns zod's issues into {@link ValidationIssue}s, one per unknown key (named by its own path, e.g. `prompt2`, rather
 * than one issue about the object holding them). Parse with `{ reportInput: true }` to keep the values received.
 */
export function toValidationIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.flatMap((issue): ValidationIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      const holder = isRecord(issue.input) ? issue.input : {};
      return issue.keys.map((key) => {
        const out: ValidationIssue = { field: formatPath([...issue.path, key]), problem: 'unknown field: not one this accepts (check the spelling)' };
        if (holder[key] !== undefined) out.received = bounded(holder[key]);
        return out;
      });
    }
    const out: ValidationIssue = { field: formatPath(issue.path), problem: issue.message };
    if ('input' in issue && issue.input !== undefined) out.received = bounded(issue.input);
    return [out];
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses `input` with `schema`, throwing a {@link ValidationError} about `subject` when it does not match. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw new ValidationError(subject, toValidationIssues(result.error));
  return result.data;
}

function describeIssue(issue: ValidationIssue): string {
  const where = issue.field || '(root)';
  const got = 'received' in issue ? ` (received ${preview(issue.received)})` : '';
  return `${where}: ${issue.problem}${got}`;
}

/** Longest JSON of a value kept as received; longer values are kept as a preview string. */
export const MAX_RECEIVED_JSON = 200;

/** The value itself when its JSON is short, else a preview of it (deep nesting that JSON cannot hold included). */
function bounded(value: unknown): unknown {
  const text = jsonOf(value);
  if (text !== undefined && text.length <= MAX_RECEIVED_JSON) return value;
  return text === undefined ? '(too deeply nested to show)' : `${text.slice(0, MAX_RECEIVED_JSON - 3)}...`;
}

function jsonOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return undefined;
  }
}

function preview(value: unknown): string {
  const text = jsonOf(value) ?? '(too deeply nested to show)';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

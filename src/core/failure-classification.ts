// Over 400 lines for one reason: the classification table is data (one rule per known error text) beside the small matcher that applies it.
/**
 * Failure classification: turns any error (an Error, a string, a ComfyUI `execution_error` payload, an HTTP-ish
 * `{status}` object, a Node error with a `code`, a child process exit) into a {@link FailureType} with the evidence
 * that decided it. Pure and table-driven: an ordered rule table, first match wins, extra rules from config run first.
 *
 * Decisions (see test/recovery/failure-classification.test.ts):
 * - A checksum mismatch is a `model_loading_failure` (the file on disk is not the model) and retryable, because
 *   downloading it again usually fixes it.
 * - HTTP 404 is a non-retryable `generation_pipeline_error`: from ComfyUI it means a wrong URL or path prefix or a
 *   missing output, never a missing model (those come back as a 400 "Value not in list"; the downloader's 404 has
 *   its own code). 401 and 403 are a proxy refusing the credentials: a non-retryable `network_error`. 408, 429, 502,
 *   503 and 504 are `network_error` (the backend or a proxy is unreachable or overloaded); any other 5xx is a
 *   `generation_pipeline_error` (the backend was reached and broke while working).
 * - A prompt ComfyUI rejects (HTTP 400 of type invalid_prompt, prompt_outputs_failed_validation or prompt_no_outputs:
 *   a node class not installed, a value over its max, an invalid image) is deterministic: not retryable.
 * - Host memory exhaustion (ENOMEM, "Cannot allocate memory", PyTorch's CPU allocator) is a `system_resource_error`;
 *   only GPU memory exhaustion is `vram_exhaustion`. Host rules run before the generic "out of memory" rule.
 * - Text rules run before HTTP status rules, so a 500 whose body says "CUDA out of memory" is `vram_exhaustion`.
 * - Error codes of the model-files downloader (`disk_full`, `not_found`, `checksum_mismatch`, ...) are recognised.
 * - `retryable` means "the same operation, unchanged, may succeed if simply tried again". An error that carries its
 *   own boolean `retryable` (like the downloader's) is believed. Unknown errors are retryable: nothing says another
 *   try is pointless, and attempt budgets bound it.
 */
import { z } from 'zod';
import { FAILURE_TYPES, FailureType } from './vocabulary.js';
import { parseOrThrow } from './validation.js';

/** Named text fields pulled out of a failure; pattern rules match against them and evidence names the one that matched. */
export const FAILURE_TEXT_FIELDS = [
  'message',
  'name',
  'exceptionType',
  'exceptionMessage',
  'nodeType',
  'traceback',
  'body',
  'cause',
] as const;
export type FailureTextField = (typeof FAILURE_TEXT_FIELDS)[number];

/**
 * Fields a pattern rule searches unless it names its own: not the traceback (stack frames name files such as
 * xformers/... on any error) nor the node type (a class name, not a message); config rules may target those.
 */
export const DEFAULT_SEARCHED_FIELDS: readonly FailureTextField[] = ['message', 'name', 'exceptionType', 'exceptionMessage', 'body', 'cause'];

/** What classification can see of a failure, extracted from whatever shape it came in. */
export interface FailureFacts {
  /** The original message, kept for the user. */
  readonly message: string;
  readonly text: Readonly<Partial<Record<FailureTextField, string>>>;
  /** Node/system error code (`ECONNREFUSED`), also taken from `cause`. */
  readonly code?: string;
  /** HTTP status code. */
  readonly status?: number;
  /** Exit code of a process that ended. */
  readonly exitCode?: number;
  /** Signal that ended a process (`SIGKILL`). */
  readonly signal?: string;
  /** What the error itself says about retrying, when it carries a boolean `retryable`. */
  readonly retryable?: boolean;
}

/** How a rule recognises a failure. */
export type RuleMatcher =
  | { readonly kind: 'code'; readonly codes: readonly string[] }
  | { readonly kind: 'status'; readonly from: number; readonly to: number }
  | {
      readonly kind: 'pattern';
      readonly pattern: RegExp;
      /** Fields searched, in order; default {@link DEFAULT_SEARCHED_FIELDS}. */
      readonly fields?: readonly FailureTextField[];
    }
  | { readonly kind: 'process_exit' };

/** One row of the classification table. */
export interface ClassificationRule {
  /** Short stable name, reported as evidence. */
  readonly name: string;
  readonly failureType: FailureType;
  readonly retryable: boolean;
  readonly match: RuleMatcher;
}

/** Which rule matched, on which field, and the text or value that matched. */
export interface ClassificationEvidence {
  readonly rule: string;
  readonly field: FailureTextField | 'code' | 'status' | 'exitCode' | 'signal' | 'none';
  readonly matched: string;
}

/** The outcome of classifying a failure. */
export interface FailureClassification {
  readonly failureType: FailureType;
  readonly retryable: boolean;
  /** The original message. */
  readonly message: string;
  readonly evidence: ClassificationEvidence;
}

const NETWORK_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
];

const MODEL_FILE_FIELD = /(ckpt|unet|vae|clip|lora|model|checkpoint)_?name/i.source;

/** The built-in table, in the order it is tried. */
export const DEFAULT_CLASSIFICATION_RULES: readonly ClassificationRule[] = [
  { name: 'disk_full_code', failureType: 'system_resource_error', retryable: false, match: { kind: 'code', codes: ['ENOSPC', 'EDQUOT', 'disk_full'] } },
  {
    name: 'download_network_code',
    failureType: 'network_error',
    retryable: true,
    match: { kind: 'code', codes: ['network', 'rate_limited', 'server_error'] },
  },
  { name: 'download_checksum_code', failureType: 'model_loading_failure', retryable: true, match: { kind: 'code', codes: ['checksum_mismatch'] } },
  {
    name: 'download_unobtainable_code',
    failureType: 'model_loading_failure',
    retryable: false,
    match: {
      kind: 'code',
      codes: [
        'not_found',
        'forbidden',
        'http_error',
        'size_mismatch',
        'too_large',
        'io_error',
        'scheme_not_allowed',
        'host_not_allowed',
        'too_many_redirects',
        'unsafe_path',
      ],
    },
  },
  { name: 'host_memory_code', failureType: 'system_resource_error', retryable: false, match: { kind: 'code', codes: ['ENOMEM'] } },
  { name: 'network_code', failureType: 'network_error', retryable: true, match: { kind: 'code', codes: NETWORK_CODES } },
  {
    name: 'pipeline_binary_missing',
    failureType: 'generation_pipeline_error',
    retryable: false,
    match: { kind: 'pattern', pattern: /spawn \S+ ENOENT/i },
  },
  { name: 'model_file_code', failureType: 'model_loading_failure', retryable: false, match: { kind: 'code', codes: ['ENOENT', 'EACCES', 'EISDIR'] } },
  {
    name: 'disk_full_text',
    failureType: 'system_resource_error',
    retryable: false,
    match: { kind: 'pattern', pattern: /no space left on device|disk quota exceeded|not enough space on the disk/i },
  },
  {
    name: 'host_memory_text',
    failureType: 'system_resource_error',
    retryable: false,
    match: {
      kind: 'pattern',
      pattern: /cannot allocate memory|DefaultCPUAllocator|JavaScript heap out of memory|std::bad_alloc|host memory|paging file is too small/i,
    },
  },
  {
    name: 'gpu_out_of_memory',
    failureType: 'vram_exhaustion',
    retryable: false,
    match: {
      kind: 'pattern',
      pattern:
        /CUDA out of memory|OutOfMemoryError|Allocation on device|HIP out of memory|MPS backend out of memory|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED|CUDA error: out of memory|not enough GPU video memory/i,
    },
  },
  { name: 'out_of_memory', failureType: 'vram_exhaustion', retryable: false, match: { kind: 'pattern', pattern: /out of memory/i } },
  {
    name: 'checksum_mismatch',
    failureType: 'model_loading_failure',
    retryable: true,
    match: { kind: 'pattern', pattern: /(checksum|sha-?256|hash|digest) (mismatch|verification failed|does not match)|checksum failed/i },
  },
  {
    name: 'model_file_corrupt',
    failureType: 'model_loading_failure',
    retryable: false,
    match: {
      kind: 'pattern',
      pattern:
        /SafetensorError|error while deserializing header|Could not detect model type|MetadataIncompleteBuffer|HeaderTooLarge|invalid load key|PytorchStreamReader failed|not a zip file|Error\(s\) in loading state_dict|size mismatch for|corrupt(ed)? (model|file|checkpoint|weights|safetensors)/i,
    },
  },
  {
    name: 'model_not_in_list',
    failureType: 'model_loading_failure',
    retryable: false,
    match: { kind: 'pattern', pattern: new RegExp(`value not in list:?\\s*${MODEL_FILE_FIELD}`, 'i') },
  },
  {
    name: 'model_file_missing',
    failureType: 'model_loading_failure',
    retryable: false,
    match: {
      kind: 'pattern',
      pattern:
        /FileNotFoundError|No such file or directory|(model|checkpoint|weights?)( file)? (\S+ )?(not found|is missing|does not exist)|could not (find|load|open) (the )?(model|checkpoint|weights)|failed to load (the )?(model|checkpoint)/i,
    },
  },
  {
    name: 'model_file_unreadable',
    failureType: 'model_loading_failure',
    retryable: false,
    match: { kind: 'pattern', pattern: /permission denied|is a directory/i },
  },
  {
    name: 'comfyui_prompt_rejected',
    failureType: 'generation_pipeline_error',
    retryable: false,
    match: { kind: 'pattern', pattern: /"type":"(invalid_prompt|prompt_outputs_failed_validation|prompt_no_outputs)"/, fields: ['body'] },
  },
  {
    name: 'hardware_optimization',
    failureType: 'hardware_optimization_failure',
    retryable: false,
    match: {
      kind: 'pattern',
      pattern:
        /no kernel image is available|CUDNN_STATUS|cuDNN error|xformers|flash[_ -]?attn|FlashAttention|sageattention|triton|torch\.compile|not compiled with CUDA|no NVIDIA driver|CUDA driver version is insufficient|(fp8|bf16|bfloat16)\S* (is )?not supported|does not support (fp8|bf16|bfloat16)/i,
    },
  },
  {
    name: 'network_text',
    failureType: 'network_error',
    retryable: true,
    match: {
      kind: 'pattern',
      pattern:
        /connection (refused|reset|aborted)|socket hang up|getaddrinfo|name or service not known|temporary failure in name resolution|network is unreachable|fetch failed|(connection|connect|read|request) timed out/i,
    },
  },
  {
    name: 'request_timeout',
    failureType: 'network_error',
    retryable: true,
    match: { kind: 'pattern', pattern: /^TimeoutError$/, fields: ['name'] },
  },
  { name: 'process_exit', failureType: 'generation_pipeline_error', retryable: true, match: { kind: 'process_exit' } },
  {
    name: 'process_exit_text',
    failureType: 'generation_pipeline_error',
    retryable: true,
    match: {
      kind: 'pattern',
      pattern: /(process|pipeline|worker) (exited|crashed|died)|exited with (exit )?code \d+|killed by signal|\bSIG(KILL|SEGV|ABRT|TERM|BUS)\b|segmentation fault|core dumped/i,
    },
  },
  { name: 'http_unauthorized', failureType: 'network_error', retryable: false, match: { kind: 'status', from: 401, to: 403 } },
  { name: 'http_not_found', failureType: 'generation_pipeline_error', retryable: false, match: { kind: 'status', from: 404, to: 404 } },
  { name: 'http_timeout', failureType: 'network_error', retryable: true, match: { kind: 'status', from: 408, to: 408 } },
  { name: 'http_too_many_requests', failureType: 'network_error', retryable: true, match: { kind: 'status', from: 429, to: 429 } },
  { name: 'http_unreachable', failureType: 'network_error', retryable: true, match: { kind: 'status', from: 502, to: 504 } },
  { name: 'http_server_error', failureType: 'generation_pipeline_error', retryable: true, match: { kind: 'status', from: 500, to: 599 } },
];

/** Classifies `input`, trying `extraRules` (e.g. from {@link compileClassificationRules}) before the built-in table. */
export function classifyFailure(input: unknown, extraRules: readonly ClassificationRule[] = []): FailureClassification {
  const facts = extractFailureFacts(input);
  for (const rule of [...extraRules, ...DEFAULT_CLASSIFICATION_RULES]) {
    const evidence = matchRule(rule, facts);
    if (evidence) {
      return { failureType: rule.failureType, retryable: facts.retryable ?? rule.retryable, message: facts.message, evidence };
    }
  }
  return {
    failureType: FailureType.GENERATION_PIPELINE_ERROR,
    retryable: facts.retryable ?? true,
    message: facts.message,
    evidence: { rule: 'unknown', field: 'none', matched: '' },
  };
}

function matchRule(rule: ClassificationRule, facts: FailureFacts): ClassificationEvidence | undefined {
  const { match } = rule;
  switch (match.kind) {
    case 'code':
      return facts.code !== undefined && match.codes.includes(facts.code)
        ? { rule: rule.name, field: 'code', matched: facts.code }
        : undefined;
    case 'status':
      return facts.status !== undefined && facts.status >= match.from && facts.status <= match.to
        ? { rule: rule.name, field: 'status', matched: String(facts.status) }
        : undefined;
    case 'process_exit':
      if (facts.signal !== undefined) return { rule: rule.name, field: 'signal', matched: facts.signal };
      if (facts.exitCode !== undefined && facts.exitCode !== 0) {
        return { rule: rule.name, field: 'exitCode', matched: String(facts.exitCode) };
      }
      return undefined;
    case 'pattern':
      for (const field of match.fields ?? DEFAULT_SEARCHED_FIELDS) {
        const text = facts.text[field];
        if (text === undefined) continue;
        const found = match.pattern.exec(text);
        if (found) return { rule: rule.name, field, matched: found[0] };
      }
      return undefined;
  }
}

/**
 * Pulls message, text fields, code, HTTP status and process exit out of an Error, a string, a ComfyUI
 * `execution_error` payload (or the whole `{type: 'execution_error', data}` message), or any object.
 */
export function extractFailureFacts(input: unknown): FailureFacts {
  if (typeof input === 'string') return { message: input, text: { message: input } };
  if (input === null || typeof input !== 'object') {
    const message = input === undefined ? 'unknown error' : String(input);
    return { message, text: { message } };
  }
  const record = unwrapComfyMessage(input as Record<string, unknown>);
  const text: Partial<Record<FailureTextField, string>> = {};
  const exceptionType = stringField(record, 'exception_type');
  const exceptionMessage = stringField(record, 'exception_message')?.trim();
  const message = stringField(record, 'message') ?? nestedErrorMessage(record);
  const status = numberField(record, 'status') ?? numberField(record, 'statusCode') ?? numberField(record, 'httpStatus');
  const traceback = record.traceback;
  const body = record.body;

  if (message !== undefined) text.message = message;
  if (input instanceof Error && input.name !== 'Error') text.name = input.name;
  if (exceptionType !== undefined) text.exceptionType = exceptionType;
  if (exceptionMessage !== undefined) text.exceptionMessage = exceptionMessage;
  const nodeType = stringField(record, 'node_type');
  if (nodeType !== undefined) text.nodeType = nodeType;
  if (Array.isArray(traceback)) text.traceback = traceback.map(String).join('');
  else if (typeof traceback === 'string') text.traceback = traceback;
  if (typeof body === 'string') text.body = body;
  else if (body !== undefined && body !== null) text.body = safeJson(body);
  const causes = causeChain(record);
  if (causes.messages.length > 0) text.cause = causes.messages.join(' <- ');

  const ownCode = record.code;
  const code = typeof ownCode === 'string' ? ownCode : causes.code;
  const exitCode = typeof ownCode === 'number' ? ownCode : numberField(record, 'exitCode');
  const signal = stringField(record, 'signal');
  const retryable = typeof record.retryable === 'boolean' ? record.retryable : undefined;

  return {
    message: describeMessage({ message, exceptionType, exceptionMessage, status, record }),
    text,
    ...(code !== undefined && { code }),
    ...(status !== undefined && { status }),
    ...(exitCode !== undefined && { exitCode }),
    ...(signal !== undefined && { signal }),
    ...(retryable !== undefined && { retryable }),
  };
}

function unwrapComfyMessage(record: Record<string, unknown>): Record<string, unknown> {
  const data = record.data;
  if (record.type === 'execution_error' && data !== null && typeof data === 'object') return data as Record<string, unknown>;
  return record;
}

function describeMessage(parts: {
  message: string | undefined;
  exceptionType: string | undefined;
  exceptionMessage: string | undefined;
  status: number | undefined;
  record: Record<string, unknown>;
}): string {
  if (parts.exceptionMessage !== undefined) {
    return parts.exceptionType !== undefined ? `${parts.exceptionType}: ${parts.exceptionMessage}` : parts.exceptionMessage;
  }
  if (parts.message !== undefined && parts.message !== '') return parts.message;
  if (parts.status !== undefined) {
    const statusText = stringField(parts.record, 'statusText');
    return `HTTP ${parts.status}${statusText ? ` ${statusText}` : ''}`;
  }
  return safeJson(parts.record);
}

function nestedErrorMessage(record: Record<string, unknown>): string | undefined {
  const error = record.error;
  if (typeof error === 'string') return error;
  if (error !== null && typeof error === 'object') return stringField(error as Record<string, unknown>, 'message');
  return undefined;
}

function causeChain(record: Record<string, unknown>): { messages: string[]; code: string | undefined } {
  const messages: string[] = [];
  let code: string | undefined;
  let cause = record.cause;
  for (let depth = 0; depth < 5 && cause !== undefined && cause !== null; depth++) {
    if (typeof cause === 'string') {
      messages.push(cause);
      break;
    }
    if (typeof cause !== 'object') break;
    const next = cause as Record<string, unknown>;
    const message = stringField(next, 'message');
    if (message !== undefined) messages.push(message);
    if (code === undefined && typeof next.code === 'string') code = next.code;
    cause = next.cause;
  }
  return { messages, code };
}

function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

function numberField(record: Record<string, unknown>, key: string): number | undefined {
  const value = record[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function safeJson(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 500 ? `${text.slice(0, 497)}...` : text;
  } catch {
    return String(value);
  }
}

/** Schema of one extra classification rule in config. */
export const ClassificationRuleConfigSchema = z
  .strictObject({
    /** Reported as evidence; defaults to `config_rule_<index>`. */
    name: z.string().min(1).optional(),
    /** A regular expression (string source or RegExp) searched for in the failure's text. */
    pattern: z.union([z.string().min(1), z.instanceof(RegExp)]),
    /** Flags when `pattern` is a string; default `i` (case-insensitive). */
    flags: z.string().regex(/^[dgimsuy]*$/, 'expected regular expression flags from "dgimsuy"').optional(),
    /** Which text field to search; default the message fields (not traceback or nodeType). */
    field: z.enum(FAILURE_TEXT_FIELDS).optional(),
    failureType: z.enum(FAILURE_TYPES),
    /** Default false. */
    retryable: z.boolean().optional(),
  })
  .superRefine((rule, ctx) => {
    if (typeof rule.pattern !== 'string') return;
    try {
      new RegExp(rule.pattern, rule.flags ?? 'i');
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        path: ['pattern'],
        input: rule.pattern,
        message: `expected a valid regular expression (${(error as Error).message})`,
      });
    }
  });

/** Extra classification rules as written in config. */
export type ClassificationRuleConfig = z.input<typeof ClassificationRuleConfigSchema>;

/** Schema of the `classificationRules` list in config. */
export const ClassificationRulesConfigSchema = z.array(ClassificationRuleConfigSchema);

/**
 * Validates extra rules from config and compiles them into table rows, in the order given. Throws a
 * ValidationError naming the field (`classificationRules[0].failureType`) when a rule is invalid.
 */
export function compileClassificationRules(config: unknown): ClassificationRule[] {
  const { classificationRules } = parseOrThrow(
    z.object({ classificationRules: ClassificationRulesConfigSchema }),
    { classificationRules: config },
    'classification rules',
  );
  return toClassificationRules(classificationRules);
}

/** Turns already-validated config rules into table rows. */
export function toClassificationRules(rules: z.output<typeof ClassificationRulesConfigSchema>): ClassificationRule[] {
  return rules.map((rule, index) => ({
    name: rule.name ?? `config_rule_${index}`,
    failureType: rule.failureType,
    retryable: rule.retryable ?? false,
    match: {
      kind: 'pattern',
      pattern: typeof rule.pattern === 'string' ? new RegExp(rule.pattern, rule.flags ?? 'i') : rule.pattern,
      ...(rule.field !== undefined && { fields: [rule.field] }),
    },
  }));
}

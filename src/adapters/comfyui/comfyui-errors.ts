/**
 * Errors of the ComfyUI adapter, and how an error response is described. Each carries the facts the failure
 * classifier reads (core/failure-classification.ts): an HTTP `status` and `body`, a Node `code` such as ECONNREFUSED,
 * or ComfyUI's own `execution_error` fields under the names ComfyUI gives them (`exception_type`,
 * `exception_message`, `node_type`, `traceback`).
 */
import { BackendError } from '../../runtime/backend.js';

/** ComfyUI answered an HTTP request with an error status. */
export class ComfyUiHttpError extends BackendError {
  /** HTTP status code. */
  readonly status: number;
  /** The response body: parsed JSON when it was JSON, else text. */
  readonly body: unknown;

  constructor(message: string, status: number, body: unknown) {
    super(message, { code: `HTTP_${status}` });
    this.status = status;
    this.body = body;
  }
}

/** The server is a ComfyUI too old for the Wan2.2 templates; trying again cannot help (`retryable` false). */
export class ComfyUiVersionError extends BackendError {
  /** Read by the failure classifier: the same request fails until ComfyUI is updated. */
  readonly retryable = false;
  /** The version the server reported. */
  readonly version: string;

  constructor(message: string, version: string) {
    super(message, { code: 'COMFYUI_TOO_OLD' });
    this.version = version;
  }
}

/** What ComfyUI reports in an `execution_error` WebSocket message. */
export interface ExecutionErrorReport {
  readonly prompt_id?: string;
  readonly node_id?: string;
  readonly node_type?: string;
  readonly exception_type?: string;
  readonly exception_message?: string;
  readonly traceback?: readonly string[];
}

/** A node raised an exception while ComfyUI ran the prompt. Fields keep ComfyUI's names so the classifier reads them. */
export class ComfyUiExecutionError extends BackendError {
  readonly prompt_id: string | undefined;
  readonly node_id: string | undefined;
  readonly node_type: string | undefined;
  readonly exception_type: string | undefined;
  readonly exception_message: string | undefined;
  readonly traceback: readonly string[];

  constructor(serverLabel: string, report: ExecutionErrorReport) {
    const where = report.node_id === undefined ? '' : ` in node ${report.node_id}${report.node_type ? ` (${report.node_type})` : ''}`;
    const what = [report.exception_type, report.exception_message?.trim()].filter(Boolean).join(': ') || 'an unknown error';
    super(`${serverLabel} failed${where}: ${what}`, { code: 'COMFYUI_EXECUTION_ERROR' });
    this.prompt_id = report.prompt_id;
    this.node_id = report.node_id;
    this.node_type = report.node_type;
    this.exception_type = report.exception_type;
    this.exception_message = report.exception_message;
    this.traceback = report.traceback ?? [];
  }
}

/**
 * Turns a failed `fetch` or socket into a BackendError whose `code` is the system error code (ECONNREFUSED,
 * ECONNRESET, ...) so it classifies as a network error; `what` says what was being done.
 */
export function connectionError(what: string, error: unknown): BackendError {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  const code = systemErrorCode(cause) ?? systemErrorCode(error) ?? 'ECONNRESET';
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BackendError(`${what}: connection failed (${detail})`, { code, cause: error });
}

/** A request to ComfyUI took longer than its limit; classified as a network error (code ETIMEDOUT). */
export function timeoutError(what: string, limitMs: number): BackendError {
  return new BackendError(`${what}: request timed out after ${formatMs(limitMs)}`, { code: 'ETIMEDOUT' });
}

function systemErrorCode(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : undefined;
}

/** `1500` → `1.5 s`, `120000` → `2 min`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}

/** The error of a response with an error status; a POST /prompt rejection names each node's problems. */
export async function httpError(what: string, method: string, path: string, response: Response): Promise<ComfyUiHttpError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = text ? (JSON.parse(text) as unknown) : text;
  } catch {
    // keep the text
  }
  const detail = method === 'POST' && path.split('?')[0] === '/prompt' ? describePromptRejection(body) : describeBody(body);
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  return new ComfyUiHttpError(`${what} failed with HTTP ${status}${detail ? `: ${detail}` : ''}${statusHint(response.status)}`, response.status, body);
}

/** What to check for a status ComfyUI itself never sends: auth refused by a proxy, or a route that is not there. */
export function statusHint(status: number): string {
  if (status === 401 || status === 403) {
    return ' (ComfyUI has no auth of its own: the proxy in front of it refused the credentials; check "headers" and the user:password of the URL in the config)';
  }
  if (status === 404) return ' (not found: check the URL and its path prefix, or the file asked for)';
  return '';
}

/** Explains a 400 from POST /prompt: the error, then each node's errors (`node 37 (UNETLoader): Value not in list: …`). */
function describePromptRejection(body: unknown): string {
  if (body === null || typeof body !== 'object') return describeBody(body);
  const { error, node_errors: nodeErrors } = body as { error?: unknown; node_errors?: unknown };
  const parts = [describeProblem(error)];
  if (nodeErrors !== null && typeof nodeErrors === 'object') {
    for (const [nodeId, entry] of Object.entries(nodeErrors as Record<string, unknown>)) {
      const { errors, class_type: classType } = (entry ?? {}) as { errors?: unknown; class_type?: unknown };
      const problems = Array.isArray(errors) ? errors.map(describeProblem).filter(Boolean) : [];
      parts.push(`node ${nodeId}${typeof classType === 'string' ? ` (${classType})` : ''}: ${problems.join('; ') || 'invalid'}`);
    }
  }
  return parts.filter(Boolean).join('; ');
}

/** `{type, message, details}` → `message: details`; a string stays as it is. */
function describeProblem(problem: unknown): string {
  if (typeof problem === 'string') return problem;
  if (problem === null || typeof problem !== 'object') return '';
  const { message, details } = problem as { message?: unknown; details?: unknown };
  return [message, details].filter((part) => typeof part === 'string' && part !== '').join(': ');
}

function describeBody(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

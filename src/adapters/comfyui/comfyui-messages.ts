/**
 * The JSON messages ComfyUI sends on `/ws?clientId=…` (server.py `send_json`: `{"type": …, "data": …}`), as emitted
 * by execution.py and main.py. Binary frames (previews) and message types not listed here are ignored. Fields
 * ComfyUI added over time (`timestamp`, `display_node`, `executed`, …) are accepted and not required.
 */
import { z } from 'zod';

const promptId = z.string();
const nodeId = z.string();

/** A file a node saved: what `/view` serves and what `/history` lists under a node's outputs. */
export const OutputFileSchema = z.looseObject({
  filename: z.string().min(1),
  subfolder: z.string().default(''),
  type: z.string().default('output'),
});
export type OutputFile = z.output<typeof OutputFileSchema>;

const statusData = z.looseObject({
  status: z.looseObject({ exec_info: z.looseObject({ queue_remaining: z.number().int() }) }),
  sid: z.string().optional(),
});

/** The messages the adapter acts on, by `type`. */
export const ComfyUiMessageSchema = z.discriminatedUnion('type', [
  /** Queue size changed (sent on connect, on every enqueue and dequeue). */
  z.looseObject({ type: z.literal('status'), data: statusData }),
  /** The prompt left the queue and began. */
  z.looseObject({ type: z.literal('execution_start'), data: z.looseObject({ prompt_id: promptId }) }),
  /** Nodes whose outputs ComfyUI reuses from an earlier prompt. */
  z.looseObject({ type: z.literal('execution_cached'), data: z.looseObject({ prompt_id: promptId, nodes: z.array(nodeId) }) }),
  /** A node started; `node: null` means the prompt is over (success, error or interruption). */
  z.looseObject({ type: z.literal('executing'), data: z.looseObject({ prompt_id: promptId.optional(), node: nodeId.nullable() }) }),
  /** Step `value` of `max` in a node (sampling steps, tiled decoding, …). */
  z.looseObject({
    type: z.literal('progress'),
    data: z.looseObject({ prompt_id: promptId.optional(), node: nodeId.nullable().optional(), value: z.number(), max: z.number() }),
  }),
  /** A node finished and shows outputs (for save nodes: the files written). */
  z.looseObject({
    type: z.literal('executed'),
    data: z.looseObject({ prompt_id: promptId, node: nodeId, output: z.record(z.string(), z.unknown()).nullable().optional() }),
  }),
  /** Every node ran (ComfyUI 0.3.x and later; older servers only send `executing` with `node: null`). */
  z.looseObject({ type: z.literal('execution_success'), data: z.looseObject({ prompt_id: promptId }) }),
  /** A node raised an exception; the prompt stopped. */
  z.looseObject({
    type: z.literal('execution_error'),
    data: z.looseObject({
      prompt_id: promptId,
      node_id: nodeId.optional(),
      node_type: z.string().optional(),
      exception_type: z.string().optional(),
      exception_message: z.string().optional(),
      traceback: z.array(z.string()).optional(),
    }),
  }),
  /** The prompt was interrupted (POST /interrupt). */
  z.looseObject({
    type: z.literal('execution_interrupted'),
    data: z.looseObject({ prompt_id: promptId, node_id: nodeId.optional(), node_type: z.string().optional() }),
  }),
]);
export type ComfyUiMessage = z.output<typeof ComfyUiMessageSchema>;

const KNOWN_TYPES: ReadonlySet<string> = new Set(ComfyUiMessageSchema.options.map((option) => option.shape.type.value));

/**
 * Parses one text frame. Returns null for a type the adapter does not act on (e.g. `progress_state`, `crystools.monitor`);
 * throws when a known type has the wrong shape, since the adapter would otherwise misread the server.
 */
export function parseComfyUiMessage(text: string): ComfyUiMessage | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`ComfyUI sent a WebSocket frame that is not JSON: ${text.slice(0, 80)}`);
  }
  const type = json !== null && typeof json === 'object' ? (json as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) return null;
  const result = ComfyUiMessageSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`ComfyUI sent a "${type}" message of an unexpected shape: data.${issue?.path.slice(1).join('.')}: ${issue?.message}`);
  }
  return result.data;
}

/** The files listed in a node's `output` (`images`, `gifs`, `videos`, … lists of {filename, subfolder, type}). */
export function outputFiles(output: Readonly<Record<string, unknown>> | null | undefined): OutputFile[] {
  if (!output) return [];
  const files: OutputFile[] = [];
  for (const value of Object.values(output)) {
    if (!Array.isArray(value)) continue;
    for (const item of value) {
      const parsed = OutputFileSchema.safeParse(item);
      if (parsed.success) files.push(parsed.data);
    }
  }
  return files;
}

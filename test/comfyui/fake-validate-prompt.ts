/**
 * A port of ComfyUI's `validate_prompt` and `validate_inputs` (execution.py at a125cd84, lines 725-1072) for the fake:
 * the same checks in the same order, the same error types, messages and details (Python's `str()` of lists and
 * floats, "(list of length N)" beyond 20 options), and the same response: `{error, node_errors}` for HTTP 400.
 */
import type { InputSpec, NodeInfo } from './fake-object-info.js';

/** One error of a node's validation: `{type, message, details, extra_info}`. */
export interface ValidationReason {
  readonly type: string;
  readonly message: string;
  readonly details: string;
  readonly extra_info: Record<string, unknown>;
}

/** What POST /prompt answers with 400, or `ok` with the output nodes to run. */
export type PromptValidation =
  | { readonly ok: true; readonly outputs: string[] }
  | { readonly ok: false; readonly error: ValidationReason; readonly node_errors: Record<string, { errors: ValidationReason[]; dependent_outputs: string[]; class_type: string }> };

type Prompt = Readonly<Record<string, { class_type?: unknown; inputs?: Record<string, unknown> }>>;
type Validated = Map<string, readonly [boolean, ValidationReason[]]>;

/**
 * Validates `prompt` against `nodes`; `custom` runs a class's VALIDATE_INPUTS for its `validated` inputs (true, or
 * the error text).
 */
export function validatePrompt(prompt: Prompt, nodes: Readonly<Record<string, NodeInfo>>, custom: (classType: string, input: string, value: unknown) => true | string): PromptValidation {
  const outputs: string[] = [];
  for (const [id, node] of Object.entries(prompt)) {
    if (node.class_type === undefined) return invalid('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`);
    const info = nodes[String(node.class_type)];
    if (!info) return invalid('invalid_prompt', `Cannot execute because node ${String(node.class_type)} does not exist.`, `Node ID '#${id}'`);
    if (info.output_node) outputs.push(id);
  }
  if (outputs.length === 0) return invalid('prompt_no_outputs', 'Prompt has no outputs', '');

  const validated: Validated = new Map();
  const good: string[] = [];
  const failed: Array<[string, ValidationReason[]]> = [];
  const nodeErrors: Record<string, { errors: ValidationReason[]; dependent_outputs: string[]; class_type: string }> = {};
  for (const output of outputs) {
    let valid: boolean;
    let reasons: ValidationReason[];
    try {
      [valid, reasons] = validateInputs(prompt, nodes, output, validated, custom);
    } catch (error) {
      valid = false;
      reasons = [{ type: 'exception_during_validation', message: 'Exception when validating node', details: String((error as Error).message), extra_info: {} }];
      validated.set(output, [false, reasons]);
    }
    if (valid) {
      good.push(output);
      continue;
    }
    failed.push([output, reasons]);
    for (const [nodeId, [ok, nodeReasons]] of validated) {
      if (ok || nodeReasons.length === 0) continue;
      nodeErrors[nodeId] ??= { errors: nodeReasons, dependent_outputs: [], class_type: String(prompt[nodeId]?.class_type) };
      nodeErrors[nodeId].dependent_outputs.push(output);
    }
  }
  if (good.length === 0) {
    const details = failed.flatMap(([, reasons]) => reasons.map((r) => `${r.message}: ${r.details}`)).join('\n');
    return { ok: false, error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details, extra_info: {} }, node_errors: nodeErrors };
  }
  return { ok: true, outputs: good };
}

function invalid(type: string, message: string, details: string): PromptValidation {
  return { ok: false, error: { type, message, details, extra_info: {} }, node_errors: {} };
}

function validateInputs(
  prompt: Prompt,
  nodes: Readonly<Record<string, NodeInfo>>,
  id: string,
  validated: Validated,
  custom: (classType: string, input: string, value: unknown) => true | string,
): readonly [boolean, ValidationReason[]] {
  const seen = validated.get(id);
  if (seen) return seen;
  const node = prompt[id];
  if (!node) throw new Error(`'${id}'`);
  const classType = String(node.class_type);
  const info = nodes[classType];
  if (!info) throw new Error(`'${classType}'`);
  const inputs = node.inputs ?? {};
  const errors: ValidationReason[] = [];
  let valid = true;
  const specs: Array<[string, InputSpec, 'required' | 'optional']> = [
    ...Object.entries(info.input.required).map(([name, spec]) => [name, spec, 'required'] as [string, InputSpec, 'required']),
    ...Object.entries(info.input.optional ?? {}).map(([name, spec]) => [name, spec, 'optional'] as [string, InputSpec, 'optional']),
  ];
  for (const [name, [type, options = {}], category] of specs) {
    if (!(name in inputs)) {
      if (category === 'required') errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: name, extra_info: { input_name: name } });
      continue;
    }
    let value = inputs[name];
    if (Array.isArray(value)) {
      if (value.length !== 2) {
        errors.push({ type: 'bad_linked_input', message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]', details: name, extra_info: { input_name: name, received_value: value } });
        continue;
      }
      const [from, slot] = value as [string, number];
      const source = prompt[from];
      if (!source) throw new Error(`'${from}'`);
      const returned = nodes[String(source.class_type)]?.output[slot];
      if (returned === undefined) throw new Error('tuple index out of range');
      if (!typeMatches(returned, type)) {
        errors.push({
          type: 'return_type_mismatch',
          message: 'Return type mismatch between linked nodes',
          details: `${name}, received_type(${returned}) mismatch input_type(${pyStr(type)})`,
          extra_info: { input_name: name, received_type: returned, linked_node: value },
        });
        continue;
      }
      if (!validateInputs(prompt, nodes, from, validated, custom)[0]) valid = false;
      continue;
    }
    if (type === 'INT' || type === 'FLOAT') {
      const number = typeof value === 'boolean' ? Number(value) : typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
      if (!Number.isFinite(number)) {
        const what = type === 'INT' ? `invalid literal for int() with base 10: ${pyStr(value)}` : `could not convert string to float: ${pyStr(value)}`;
        errors.push({ type: 'invalid_input_type', message: `Failed to convert an input value to a ${type} value`, details: `${name}, ${String(value)}, ${what}`, extra_info: { input_name: name, received_value: value } });
        continue;
      }
      value = type === 'INT' ? Math.trunc(number) : number;
    }
    if (info.validated?.includes(name)) {
      const verdict = custom(classType, name, value);
      if (verdict !== true) errors.push({ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: `${name} - ${verdict}`, extra_info: { input_name: name } });
      continue;
    }
    const shown = (n: number): string => (type === 'FLOAT' ? pyFloat(n) : String(n));
    if (options.min !== undefined && typeof value === 'number' && value < options.min) {
      errors.push({ type: 'value_smaller_than_min', message: `Value ${shown(value)} smaller than min of ${shown(options.min)}`, details: name, extra_info: { input_name: name, received_value: value } });
      continue;
    }
    if (options.max !== undefined && typeof value === 'number' && value > options.max) {
      errors.push({ type: 'value_bigger_than_max', message: `Value ${shown(value)} bigger than max of ${shown(options.max)}`, details: name, extra_info: { input_name: name, received_value: value } });
      continue;
    }
    if (Array.isArray(type) && !type.includes(value as string)) {
      const listInfo = type.length > 20 ? `(list of length ${type.length})` : pyStr(type);
      errors.push({
        type: 'value_not_in_list',
        message: 'Value not in list',
        details: `${name}: '${String(value)}' not in ${listInfo}`,
        extra_info: { input_name: name, input_config: type.length > 20 ? null : [type], received_value: value },
      });
    }
  }
  const result = [errors.length === 0 && valid, errors] as const;
  validated.set(id, result);
  return result;
}

/** comfy_execution/validation.py validate_node_input, non-strict: equal, or comma-separated types that overlap. */
function typeMatches(received: string, input: string | readonly string[]): boolean {
  if (typeof input !== 'string') return false;
  if (received === input) return true;
  const wanted = new Set(input.split(',').map((t) => t.trim()));
  return received.split(',').some((t) => wanted.has(t.trim()));
}

/** Python's str() of a value: lists as `['a', 'b']`, strings quoted inside lists. */
function pyStr(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  return String(value);
}

function pyRepr(value: unknown): string {
  if (typeof value !== 'string') return typeof value === 'number' ? String(value) : pyStr(value);
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  const escaped = value.replaceAll('\\', '\\\\').replaceAll(quote, `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}

function pyFloat(value: number): string {
  return Number.isInteger(value) ? `${value}.0` : String(value);
}

/**
 * A prompt's progress as a fraction of the job: the sampler nodes' steps map to 0–0.9 (an equal share per sampler
 * node), decoding and saving to the rest. Fractions never decrease.
 */
import type { ApiWorkflow } from './workflow-template.js';

/** Share of a job's progress the sampling steps take. */
const SAMPLING_SHARE = 0.9;
/** Progress when ComfyUI reports the prompt done, before the output is fetched. */
const EXECUTED_FRACTION = 0.95;

/** Sampler node classes: KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced and custom nodes named so. */
const SAMPLER_CLASS = /Sampler(Custom)?(Advanced)?$/;

/** Follows one prompt's nodes and steps. */
export class PromptProgress {
  private readonly samplers = new Map<string, number>();
  private current: string | undefined;
  private value = 0;

  constructor(private readonly workflow: ApiWorkflow) {
    for (const [nodeId, node] of Object.entries(workflow)) if (SAMPLER_CLASS.test(node.class_type)) this.samplers.set(nodeId, 0);
  }

  /** The job's fraction so far. */
  get fraction(): number {
    return this.value;
  }

  /** The node running now, as the last `executing` said. */
  get currentNode(): string | undefined {
    return this.current;
  }

  /** ComfyUI reuses these nodes' outputs: cached samplers count as done. */
  cached(nodes: readonly string[]): void {
    for (const node of nodes) if (this.samplers.has(node)) this.samplers.set(node, 1);
    this.advance();
  }

  /**
   * `node` started. A sampler is done when another node starts: ComfyUI resends the current node to a reconnecting
   * client, which must not finish it.
   */
  started(node: string): void {
    if (this.current !== undefined && this.current !== node && this.samplers.has(this.current)) this.samplers.set(this.current, 1);
    this.current = node;
    this.advance();
  }

  /** Step `value` of `max` of `node`; false when it is not a sampler's step (those do not move the fraction). */
  step(node: string | undefined, value: number, max: number): boolean {
    if (node === undefined || !this.samplers.has(node) || !(max > 0)) return false;
    this.samplers.set(node, Math.min(1, value / max));
    this.advance();
    return true;
  }

  /** ComfyUI finished the prompt: all but fetching the output is done. */
  executed(): void {
    if (this.current !== undefined && this.samplers.has(this.current)) this.samplers.set(this.current, 1);
    this.current = undefined;
    this.value = Math.max(this.value, EXECUTED_FRACTION);
  }

  /** The class of a node of the workflow, for messages. */
  classOf(nodeId: string): string {
    return this.workflow[nodeId]?.class_type ?? 'unknown node';
  }

  private advance(): void {
    if (this.samplers.size === 0) return;
    let done = 0;
    for (const share of this.samplers.values()) done += share;
    this.value = Math.max(this.value, (SAMPLING_SHARE * done) / this.samplers.size);
  }
}

/**
 * Health assessment: turns CPU, memory, disk and VRAM readings, and what recovery knows of model loading and the
 * generation pipeline, into healthy / degraded / critical with plain-word issues and recommendations. Pure; the health monitor (runtime) gathers the readings and calls it.
 */
import { z } from 'zod';
import { parseOrThrow } from './validation.js';

const GIB = 1024 ** 3;

/** Schema of the health thresholds; every value is a documented default. */
export const HealthThresholdsSchema = z
  .strictObject({
    /** CPU use above this percent is high (degraded). Default 80. */
    cpuHighPercent: z.number().min(0).max(100).default(80),
    /** CPU use above this percent is critical. Default 95. */
    cpuCriticalPercent: z.number().min(0).max(100).default(95),
    /** Memory use above this percent is high (degraded). Default 80. */
    memoryHighPercent: z.number().min(0).max(100).default(80),
    /** Memory use above this percent is critical. Default 95. */
    memoryCriticalPercent: z.number().min(0).max(100).default(95),
    /** VRAM use above this percent is high (degraded) and starts vram_exhaustion recovery. Default 90. */
    vramHighPercent: z.number().min(0).max(100).default(90),
    /** VRAM use above this percent is critical. Default 95. */
    vramCriticalPercent: z.number().min(0).max(100).default(95),
    /** Free disk below this many bytes is low (degraded). Default 10 GiB, about one model download. */
    diskLowBytes: z.number().min(0).default(10 * GIB),
    /** Free disk below this many bytes is critical. Default 2 GiB. */
    diskCriticalBytes: z.number().min(0).default(2 * GIB),
    /** Whether no GPU at all is critical (true for a GPU backend). Default true. */
    requireGpu: z.boolean().default(true),
  })
  .superRefine((t, ctx) => {
    const pairs = [
      ['cpuCriticalPercent', t.cpuCriticalPercent, 'cpuHighPercent', t.cpuHighPercent],
      ['memoryCriticalPercent', t.memoryCriticalPercent, 'memoryHighPercent', t.memoryHighPercent],
      ['vramCriticalPercent', t.vramCriticalPercent, 'vramHighPercent', t.vramHighPercent],
    ] as const;
    for (const [criticalKey, critical, highKey, high] of pairs) {
      if (critical < high) {
        ctx.addIssue({ code: 'custom', path: [criticalKey], input: critical, message: `expected at least ${highKey} (${high})` });
      }
    }
    if (t.diskCriticalBytes > t.diskLowBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['diskCriticalBytes'],
        input: t.diskCriticalBytes,
        message: `expected at most diskLowBytes (${t.diskLowBytes})`,
      });
    }
  });

/** Health thresholds after defaults are applied. */
export type HealthThresholds = z.output<typeof HealthThresholdsSchema>;
/** Health thresholds as written in config; every field optional. */
export type HealthThresholdsInput = z.input<typeof HealthThresholdsSchema>;

/** Validates health thresholds, filling in defaults; throws a ValidationError naming the field. */
export function parseHealthThresholds(input: unknown = {}): HealthThresholds {
  return parseOrThrow(HealthThresholdsSchema, input, 'health thresholds');
}

/** The reference thresholds. */
export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = parseHealthThresholds();

/** Memory of one GPU as seen by nvidia-smi or reported by a backend, in GiB. */
export interface VramSample {
  /** GPU name or index, for messages. */
  readonly device: string;
  readonly usedGb: number;
  readonly totalGb: number;
}

/** Why model loading or the generation pipeline is not working, as recovery last saw it; absent while it works. */
export interface PipelineProblems {
  readonly modelLoadingProblem?: string;
  readonly generationPipelineProblem?: string;
}

/** Readings to assess; `null` means the value could not be read and is left out of the verdict. */
export interface HealthInputs extends PipelineProblems {
  readonly cpuPercent: number | null;
  readonly memoryPercent: number | null;
  readonly diskFreeBytes: number | null;
  /** One sample per GPU; empty or null when there is no GPU information. */
  readonly vram: readonly VramSample[] | null;
  readonly gpuAvailable: boolean;
  /** Why no GPU information is available, when known (e.g. nvidia-smi failed). */
  readonly gpuProblem?: string;
}

/** The resources a finding can be about. */
export const HEALTH_RESOURCES = ['cpu', 'memory', 'disk', 'vram', 'gpu', 'model_loading', 'generation_pipeline'] as const;
/** The resource a finding is about. */
export type HealthResource = (typeof HEALTH_RESOURCES)[number];

/** One threshold crossed. */
export interface HealthFinding {
  readonly resource: HealthResource;
  readonly level: 'high' | 'critical';
  readonly issue: string;
  readonly recommendation: string;
}

/** Overall verdict. */
export type OverallHealth = 'healthy' | 'degraded' | 'critical';

/**
 * The state of the machine at one moment, with reasons: the reference's record (percentages of use, whether model
 * loading and the generation pipeline work), with free disk, the fullest GPU and structured findings beside it.
 */
export interface SystemHealthStatus {
  readonly overallStatus: OverallHealth;
  readonly cpuUsagePercent: number | null;
  readonly memoryUsagePercent: number | null;
  /** Use of the fullest GPU's memory; null without GPU memory information. */
  readonly vramUsagePercent: number | null;
  readonly gpuAvailable: boolean;
  /** False while a model loading failure stands unrepaired (a preview stood in, or every action failed). */
  readonly modelLoadingFunctional: boolean;
  /** False while a generation pipeline error stands unrepaired. */
  readonly generationPipelineFunctional: boolean;
  /** When the check ran, epoch milliseconds. */
  readonly lastCheckTimestamp: number;
  readonly issues: readonly string[];
  readonly recommendations: readonly string[];
  readonly diskFreeBytes: number | null;
  /** The fullest GPU (highest percent used); null without GPU memory information. */
  readonly vram: VramSample | null;
  /** Structured form of `issues`, one per threshold crossed or function not working. */
  readonly findings: readonly HealthFinding[];
}

/**
 * Assesses readings against thresholds. A value strictly above a percent threshold crosses it (80 is fine,
 * 80.1 is high); free disk strictly below a byte threshold crosses it. Any critical finding makes the whole
 * verdict critical, any high finding degraded.
 */
export function assessHealth(inputs: HealthInputs, thresholds: HealthThresholds, checkedAt: number): SystemHealthStatus {
  const findings: HealthFinding[] = [];
  const percentFinding = (
    resource: 'cpu' | 'memory',
    label: string,
    value: number | null,
    high: number,
    critical: number,
    recommendation: string,
  ): void => {
    if (value === null) return;
    if (value > critical) {
      findings.push({ resource, level: 'critical', issue: `${label} at ${fmt(value)} % (critical above ${critical} %)`, recommendation });
    } else if (value > high) {
      findings.push({ resource, level: 'high', issue: `${label} at ${fmt(value)} % (high above ${high} %)`, recommendation });
    }
  };
  percentFinding(
    'cpu',
    'CPU use',
    inputs.cpuPercent,
    thresholds.cpuHighPercent,
    thresholds.cpuCriticalPercent,
    'Run fewer generations at once or stop other CPU-heavy programs.',
  );
  percentFinding(
    'memory',
    'Memory use',
    inputs.memoryPercent,
    thresholds.memoryHighPercent,
    thresholds.memoryCriticalPercent,
    'Close other programs or run fewer generations at once; CPU offload needs free memory too.',
  );

  if (inputs.diskFreeBytes !== null) {
    const free = `${fmt(inputs.diskFreeBytes / GIB)} GiB`;
    const recommendation = 'Free disk space (old outputs, unused models) before downloading more models.';
    if (inputs.diskFreeBytes < thresholds.diskCriticalBytes) {
      findings.push({
        resource: 'disk',
        level: 'critical',
        issue: `Only ${free} of disk free (critical below ${fmt(thresholds.diskCriticalBytes / GIB)} GiB)`,
        recommendation,
      });
    } else if (inputs.diskFreeBytes < thresholds.diskLowBytes) {
      findings.push({
        resource: 'disk',
        level: 'high',
        issue: `Only ${free} of disk free (low below ${fmt(thresholds.diskLowBytes / GIB)} GiB)`,
        recommendation,
      });
    }
  }

  const vram = fullestGpu(inputs.vram);
  if (vram) {
    const recommendation = 'Clear the GPU cache, enable CPU offload or lower the resolution.';
    if (vram.percent > thresholds.vramCriticalPercent) {
      findings.push({
        resource: 'vram',
        level: 'critical',
        issue: `GPU memory on ${vram.device} at ${fmt(vram.percent)} % (critical above ${thresholds.vramCriticalPercent} %)`,
        recommendation,
      });
    } else if (vram.percent > thresholds.vramHighPercent) {
      findings.push({
        resource: 'vram',
        level: 'high',
        issue: `GPU memory on ${vram.device} at ${fmt(vram.percent)} % (high above ${thresholds.vramHighPercent} %)`,
        recommendation,
      });
    }
  }

  if (inputs.modelLoadingProblem !== undefined) {
    findings.push({
      resource: 'model_loading',
      level: 'high',
      issue: `Model loading is not working: ${inputs.modelLoadingProblem}`,
      recommendation: 'Check the model files (verify or download them again) and the backend log.',
    });
  }
  if (inputs.generationPipelineProblem !== undefined) {
    findings.push({
      resource: 'generation_pipeline',
      level: 'high',
      issue: `The generation pipeline is not working: ${inputs.generationPipelineProblem}`,
      recommendation: 'Check the backend log and restart the backend.',
    });
  }

  if (!inputs.gpuAvailable && thresholds.requireGpu) {
    findings.push({
      resource: 'gpu',
      level: 'critical',
      issue: inputs.gpuProblem ? `No GPU available: ${inputs.gpuProblem}` : 'No GPU available',
      recommendation: 'Check the GPU driver (run nvidia-smi); until a GPU is back only previews can be made.',
    });
  }

  const overall: OverallHealth = findings.some((f) => f.level === 'critical')
    ? 'critical'
    : findings.length > 0
      ? 'degraded'
      : 'healthy';
  return {
    overallStatus: overall,
    cpuUsagePercent: inputs.cpuPercent,
    memoryUsagePercent: inputs.memoryPercent,
    vramUsagePercent: vram && round2(vram.percent),
    gpuAvailable: inputs.gpuAvailable,
    modelLoadingFunctional: inputs.modelLoadingProblem === undefined,
    generationPipelineFunctional: inputs.generationPipelineProblem === undefined,
    lastCheckTimestamp: checkedAt,
    issues: findings.map((f) => f.issue),
    recommendations: [...new Set(findings.map((f) => f.recommendation))],
    diskFreeBytes: inputs.diskFreeBytes,
    vram: vram && { device: vram.device, usedGb: round2(vram.usedGb), totalGb: round2(vram.totalGb) },
    findings,
  };
}

function fullestGpu(samples: readonly VramSample[] | null): (VramSample & { percent: number }) | null {
  let fullest: (VramSample & { percent: number }) | null = null;
  for (const sample of samples ?? []) {
    if (!(sample.totalGb > 0)) continue;
    const percent = (sample.usedGb * 100) / sample.totalGb;
    if (!fullest || percent > fullest.percent) fullest = { ...sample, percent };
  }
  return fullest;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function fmt(value: number): string {
  return String(round2(value));
}

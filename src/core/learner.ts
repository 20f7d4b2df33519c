/**
 * Learns from what really happened: how long generations take compared with the catalog's estimate, and how fast
 * downloads go. Exponentially weighted means, so recent behaviour counts most. Pure state, no I/O: the runtime
 * feeds it and may persist {@link EstimateLearner.toJSON}.
 */
export interface LearnedMean {
  mean: number;
  samples: number;
}

/** Serializable state of an {@link EstimateLearner}. */
export interface EstimateLearnerState {
  /** Actual ÷ estimated generation time, by `model` and by `model@resolution`. */
  speedRatios: Record<string, LearnedMean>;
  /** Seconds one generation occupied a slot, any model. */
  jobSeconds: LearnedMean | null;
  /** Download throughput, bytes per second. */
  downloadBytesPerSecond: LearnedMean | null;
  /** Seconds a model took to load, by `backend/model` and by `model` (any backend). Absent in older saved states. */
  loadSeconds?: Record<string, LearnedMean>;
}

export class EstimateLearner {
  private state: EstimateLearnerState;

  /** @param alpha weight of a new sample (default 0.3) */
  constructor(
    private readonly alpha = 0.3,
    state?: EstimateLearnerState,
  ) {
    this.state = state ? structuredClone(state) : { speedRatios: {}, jobSeconds: null, downloadBytesPerSecond: null };
  }

  /** Records a finished generation: what it really took against what the catalog predicted. */
  recordGeneration(modelId: string, resolution: string, actualSeconds: number, estimatedSeconds: number): void {
    if (!(actualSeconds > 0) || !(estimatedSeconds > 0)) return;
    const ratio = actualSeconds / estimatedSeconds;
    this.state.speedRatios[modelId] = this.update(this.state.speedRatios[modelId] ?? null, ratio);
    const key = `${modelId}@${resolution}`;
    this.state.speedRatios[key] = this.update(this.state.speedRatios[key] ?? null, ratio);
    this.state.jobSeconds = this.update(this.state.jobSeconds, actualSeconds);
  }

  /** Records a model load on a backend: how long it took from the request to the weights being resident. */
  recordLoad(backendId: string, modelId: string, seconds: number): void {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
    const loads = (this.state.loadSeconds ??= {});
    loads[`${backendId}/${modelId}`] = this.update(loads[`${backendId}/${modelId}`] ?? null, seconds);
    loads[modelId] = this.update(loads[modelId] ?? null, seconds);
  }

  /** Learned load time of a model on a backend (falling back to the model on any backend), if any. */
  loadSeconds(backendId: string, modelId: string): LearnedMean | undefined {
    return this.state.loadSeconds?.[`${backendId}/${modelId}`] ?? this.state.loadSeconds?.[modelId];
  }

  /** Records a completed stretch of download. */
  recordDownload(bytes: number, seconds: number): void {
    if (!(bytes > 0) || !(seconds > 0)) return;
    this.state.downloadBytesPerSecond = this.update(this.state.downloadBytesPerSecond, bytes / seconds);
  }

  /** Learned actual ÷ estimated ratio for a model at a resolution (falling back to the model), if any. */
  speedRatio(modelId: string, resolution: string): LearnedMean | undefined {
    return this.state.speedRatios[`${modelId}@${resolution}`] ?? this.state.speedRatios[modelId];
  }

  /** Learned seconds per generation across models, if any. */
  get jobSeconds(): LearnedMean | undefined {
    return this.state.jobSeconds ?? undefined;
  }

  /** Learned download throughput, if any. */
  get downloadBytesPerSecond(): LearnedMean | undefined {
    return this.state.downloadBytesPerSecond ?? undefined;
  }

  toJSON(): EstimateLearnerState {
    return structuredClone(this.state);
  }

  private update(previous: LearnedMean | null, sample: number): LearnedMean {
    if (!previous) return { mean: sample, samples: 1 };
    return { mean: previous.mean + this.alpha * (sample - previous.mean), samples: previous.samples + 1 };
  }
}

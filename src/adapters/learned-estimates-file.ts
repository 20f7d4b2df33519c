import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EstimateLearner, type EstimateLearnerState } from '../core/learner.js';

/** What the estimator learned (durations, download speed), kept in a JSON file between runs. */
export class LearnedEstimatesFile {
  constructor(readonly path: string) {}

  /** The learner saved last time; a fresh one when there is none or it cannot be read. */
  async load(): Promise<EstimateLearner> {
    try {
      return new EstimateLearner(undefined, JSON.parse(await readFile(this.path, 'utf8')) as EstimateLearnerState);
    } catch {
      return new EstimateLearner();
    }
  }

  /** Keeps what the learner knows for the next start, written atomically. */
  async save(learner: EstimateLearner): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(`${this.path}.tmp`, JSON.stringify(learner.toJSON()));
    await rename(`${this.path}.tmp`, this.path);
  }
}

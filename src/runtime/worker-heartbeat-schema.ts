/**
 * The shape of a heartbeat: checked when read back from Redis (another process, maybe another version, wrote it),
 * and the documented record of `GET /v1/workers`.
 */
import { z } from 'zod';
import type { WorkerHeartbeat } from './cluster/worker-heartbeat.js';

const nullableNumber = z.number().nonnegative().nullable();

/** One backend of a worker, as its heartbeat says. */
const BackendHeartbeatSchema = z.object({
  backendId: z.string().min(1).describe("The backend's id on its worker"),
  slots: z.number().int().nonnegative().describe('Generations it runs at once'),
  busy: z.number().int().nonnegative().describe('Slots in use now'),
  vramTotalGb: nullableNumber.describe('GPU memory, GiB; null without a GPU or when it could not be read'),
  vramFreeGb: nullableNumber,
  installed: z.array(z.string()).describe('Models whose files are present and verified'),
  loaded: z.array(z.string()).describe('Models loaded in GPU memory'),
  downloading: z
    .array(z.object({ modelId: z.string(), bytesDone: z.number().nonnegative(), bytesTotal: nullableNumber, etaSeconds: nullableNumber }))
    .describe('Model downloads under way on it'),
  health: z.enum(['healthy', 'degraded', 'critical']).describe("The worker's machine health, as its monitor last assessed it"),
  breakerOpen: z.boolean().describe("The backend's breaker is open: it takes no work until it half-opens"),
  unavailableModels: z.array(z.string()).optional().describe('Installed models whose per-model breaker is open here'),
});

/** Checks a heartbeat before the directory hands it out. */
export const WorkerHeartbeatSchema: z.ZodType<WorkerHeartbeat> = z.object({
  workerId: z.string().min(1).describe('Names the worker (--id, default host name + pid)'),
  version: z.string().describe('Understudy version the worker runs'),
  startedAt: z.number().describe('Epoch ms the worker started'),
  sentAt: z.number().describe('Epoch ms this heartbeat was built'),
  diskFreeBytes: nullableNumber.describe("Free bytes on the worker's data disk, null when unknown"),
  lastClaimAt: z.number().nullable().describe("Epoch ms of the worker's last claim, null before its first"),
  backends: z.array(BackendHeartbeatSchema),
});

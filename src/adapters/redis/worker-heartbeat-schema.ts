/** The shape of a heartbeat read back from Redis: another process, maybe another version, wrote it. */
import { z } from 'zod';
import type { WorkerHeartbeat } from '../../runtime/cluster/worker-heartbeat.js';

const nullableNumber = z.number().nonnegative().nullable();

/** Checks a heartbeat before the directory hands it out. */
export const WorkerHeartbeatSchema: z.ZodType<WorkerHeartbeat> = z.object({
  workerId: z.string().min(1),
  version: z.string(),
  startedAt: z.number(),
  sentAt: z.number(),
  diskFreeBytes: nullableNumber,
  lastClaimAt: z.number().nullable(),
  backends: z.array(
    z.object({
      backendId: z.string().min(1),
      slots: z.number().int().nonnegative(),
      busy: z.number().int().nonnegative(),
      vramTotalGb: nullableNumber,
      vramFreeGb: nullableNumber,
      installed: z.array(z.string()),
      loaded: z.array(z.string()),
      downloading: z.array(z.object({ modelId: z.string(), bytesDone: z.number().nonnegative(), bytesTotal: nullableNumber, etaSeconds: nullableNumber })),
      health: z.enum(['healthy', 'degraded', 'critical']),
      breakerOpen: z.boolean(),
      unavailableModels: z.array(z.string()).optional(),
    }),
  ),
});

/**
 * The job-store port's contract: one suite every store runs (SQLite now, Redis next), so that a job has the same
 * life, order and history whatever it is stored in. A store's test file calls {@link jobStoreContract} with a
 * factory that opens the store under test on fresh storage, driven by a ManualClock.
 */
import type { TestContext } from 'node:test';
import type { ManualClock } from '../../src/runtime/clocks.js';
import type { JobStore, JobStoreOptions } from '../../src/runtime/job-store.js';
import { leaseContract } from './contract/leases.js';
import { lifecycleContract } from './contract/lifecycle.js';
import { queueOrderContract } from './contract/queue-order.js';
import { storageContract } from './contract/storage.js';

/** A store under test on fresh storage, its clock, and more stores on the same storage. */
export interface ContractFixture {
  store: JobStore;
  clock: ManualClock;
  /** Opens another store on the same storage (another process's view; closed when the test ends). */
  open(options?: Partial<JobStoreOptions>): JobStore;
  /** Timeline entries whose job no longer exists (after a purge there must be none). */
  orphanedTimelineEntries(): Promise<number>;
}

/** Opens a store for one test; everything it opens is closed and removed when the test ends. */
export type JobStoreFactory = (t: TestContext, options?: Partial<JobStoreOptions>) => ContractFixture;

/** Registers every contract test for the store `storeName`, each titled `<storeName>: ...`. */
export function jobStoreContract(storeName: string, factory: JobStoreFactory): void {
  storageContract(storeName, factory);
  lifecycleContract(storeName, factory);
  leaseContract(storeName, factory);
  queueOrderContract(storeName, factory);
}

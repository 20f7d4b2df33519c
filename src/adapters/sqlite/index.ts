/** The embedded job store: one SQLite file shared by the processes of one machine. */
export { SqliteJobStore, type SqliteJobStoreOptions, type FileSync } from './sqlite-job-store.js';

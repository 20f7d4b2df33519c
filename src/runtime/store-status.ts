/** What a process knows about its job store, for readiness probes and operators. */
export interface StoreStatus {
  /** `sqlite`: the embedded file; `redis`: shared by gateways and workers on several machines. */
  kind: 'sqlite' | 'redis';
  /** Where it is, safe to print (a Redis URL without its password; for SQLite the file's name, never the server's path). */
  location: string;
  /** Whether it answered just now. */
  reachable: boolean;
  /** True when the store may lose accepted jobs (a Redis without AOF `always` or with an evicting policy, allowed for a demo). */
  volatile: boolean;
  /** What makes it volatile or unreachable, in plain words; empty when all is well. */
  problems: string[];
}

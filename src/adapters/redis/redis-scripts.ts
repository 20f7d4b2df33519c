/**
 * The Lua scripts of the Redis job store, registered with ioredis `defineCommand`. Each runs atomically in Redis, so a
 * record and its indexes never disagree: accepting a job checks the queue limit and stores the job in one step, and a
 * change of a job is refused when the job changed since it was read (its `rev`), so that the lifecycle's decision,
 * taken in TypeScript from that read, is never applied to a different state. Index keys derive from the prefix
 * inside the scripts (see redis-keys.ts), as BullMQ's scripts do with theirs.
 */
import type { Redis } from 'ioredis';
import type { JobState } from '../../runtime/job.js';
import { hashOf, type JobFields, type StoredJob } from './redis-job-record.js';
import type { RedisKeys } from './redis-keys.js';

/** Keeps a job's index entries: `index(p, s, true)` adds the entries of state `s`, `false` removes them. */
const INDEX_LUA = `
local rcall = redis.call
local STATE_FIELDS = {'id', 'status', 'rank', 'model', 'waitingFor', 'createdAt', 'seq', 'deadline', 'leaseExpiresAt', 'updatedAt'}
local TERMINAL = {succeeded = true, failed = true, cancelled = true, expired = true}
local function stateOf(jobKey)
  local v = rcall('HMGET', jobKey, unpack(STATE_FIELDS))
  return {id = v[1], status = v[2], rank = v[3], model = v[4], waitingFor = v[5], createdAt = v[6], seq = v[7],
    deadline = v[8], leaseExpiresAt = v[9], updatedAt = v[10]}
end
local function member(s)
  return string.format('%015d', tonumber(s.seq)) .. ':' .. s.id
end
local function zset(add, key, score, m)
  if add then rcall('ZADD', key, score, m) else rcall('ZREM', key, m) end
end
local function index(p, s, add)
  if not s.status then return end
  zset(add, p .. ':status:' .. s.status, s.seq, s.id)
  local waiting = false
  if s.status == 'queued' then
    zset(add, p .. ':lane:' .. s.rank, s.createdAt, member(s))
    zset(add, p .. ':queued:' .. s.model .. ':' .. s.rank, s.createdAt, member(s))
    if add then rcall('SADD', p .. ':models', s.model) end
    waiting = true
  elseif s.status == 'waiting_for_model' then
    zset(add, p .. ':waiting:' .. s.waitingFor .. ':' .. s.rank, s.createdAt, member(s))
    if add then rcall('SADD', p .. ':models', s.waitingFor) end
    waiting = true
  elseif s.status == 'running' then
    zset(add, p .. ':leases', s.leaseExpiresAt, s.id)
  elseif TERMINAL[s.status] then
    zset(add, p .. ':finished', s.updatedAt, s.id)
  end
  if waiting then
    zset(add, p .. ':waiting-since', s.createdAt, s.id)
    if s.deadline then zset(add, p .. ':deadlines', s.deadline, s.id) end
  end
end
local function setFields(jobKey, fields)
  for k, v in pairs(fields) do
    if v == cjson.null then rcall('HDEL', jobKey, k) else rcall('HSET', jobKey, k, v) end
  end
end
`;

/**
 * Accepts a job: KEYS job, timeline; ARGV prefix, maxQueueSize, fields JSON, timeline JSON. Returns {0, seq}, {-1}
 * when the id is taken, {-2, waiting} when the queue is full.
 */
const ACCEPT_LUA = `${INDEX_LUA}
local p = ARGV[1]
if rcall('EXISTS', KEYS[1]) == 1 then return {-1} end
local waiting = rcall('ZCARD', p .. ':status:queued') + rcall('ZCARD', p .. ':status:waiting_for_model')
if waiting >= tonumber(ARGV[2]) then return {-2, waiting} end
local seq = rcall('INCR', p .. ':seq')
setFields(KEYS[1], cjson.decode(ARGV[3]))
rcall('HSET', KEYS[1], 'seq', seq, 'rev', 1)
for _, e in ipairs(cjson.decode(ARGV[4])) do rcall('RPUSH', KEYS[2], e) end
local s = stateOf(KEYS[1])
rcall('ZADD', p .. ':all', seq, s.id)
index(p, s, true)
return {0, seq}
`;

/**
 * Changes a job read at revision ARGV[2]: KEYS job, timeline; ARGV prefix, rev, fields JSON, timeline JSON. Returns
 * {0, hash, timeline}, {-1} when there is no such job, {-2} when it changed since.
 */
const COMMIT_LUA = `${INDEX_LUA}
local p = ARGV[1]
if rcall('EXISTS', KEYS[1]) == 0 then return {-1} end
if rcall('HGET', KEYS[1], 'rev') ~= ARGV[2] then return {-2} end
index(p, stateOf(KEYS[1]), false)
setFields(KEYS[1], cjson.decode(ARGV[3]))
rcall('HINCRBY', KEYS[1], 'rev', 1)
for _, e in ipairs(cjson.decode(ARGV[4])) do rcall('RPUSH', KEYS[2], e) end
index(p, stateOf(KEYS[1]), true)
return {0, rcall('HGETALL', KEYS[1]), rcall('LRANGE', KEYS[2], 0, -1)}
`;

/** Reads jobs: ARGV prefix, ids... Returns {hash, timeline} per id (an empty hash for none). */
const READ_LUA = `
local out = {}
for i = 2, #ARGV do
  local key = ARGV[1] .. ':job:' .. ARGV[i]
  out[#out + 1] = {redis.call('HGETALL', key), redis.call('LRANGE', key .. ':tl', 0, -1)}
end
return out
`;

/**
 * The first ARGV[3] queued jobs of each priority lane of each model of ARGV[4..] that have not passed their deadline
 * at ARGV[2]: a flat list of id, model, rank, createdAt, seq.
 */
const CANDIDATES_LUA = `
local rcall = redis.call
local p, now, take = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for m = 4, #ARGV do
  local model = ARGV[m]
  for rank = 0, 3 do
    local key = p .. ':queued:' .. model .. ':' .. rank
    local got, start = 0, 0
    while got < take do
      local batch = rcall('ZRANGE', key, start, start + take - 1, 'WITHSCORES')
      if #batch == 0 then break end
      for i = 1, #batch, 2 do
        local id = string.sub(batch[i], 17)
        local deadline = rcall('HGET', p .. ':job:' .. id, 'deadline')
        if (not deadline) or tonumber(deadline) > now then
          out[#out + 1] = id
          out[#out + 1] = model
          out[#out + 1] = rank
          out[#out + 1] = batch[i + 1]
          out[#out + 1] = tonumber(string.sub(batch[i], 1, 15))
          got = got + 1
          if got >= take then break end
        end
      end
      start = start + take
    end
  end
end
return out
`;

/**
 * Counts of each priority lane for a queue position: ARGV prefix, createdAt, member, then per lane (0..3) the bounds
 * allUpTo and tiedUpTo (`-inf`, `+inf` or epoch ms). Returns per lane: total, before (the lane's jobs ahead of the
 * job in acceptance order), upTo(allUpTo), upTo(tiedUpTo).
 */
const LANE_COUNTS_LUA = `
local rcall = redis.call
local p, createdAt, m = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for rank = 0, 3 do
  local key = p .. ':lane:' .. rank
  local before = rcall('ZCOUNT', key, '-inf', '(' .. createdAt)
  for _, other in ipairs(rcall('ZRANGEBYSCORE', key, createdAt, createdAt)) do
    if other < m then before = before + 1 end
  end
  out[#out + 1] = rcall('ZCARD', key)
  out[#out + 1] = before
  out[#out + 1] = rcall('ZCOUNT', key, '-inf', ARGV[4 + rank * 2])
  out[#out + 1] = rcall('ZCOUNT', key, '-inf', ARGV[5 + rank * 2])
end
return out
`;

/** Waiting jobs per model and lane: ARGV prefix. A flat list of model, rank, queued, waiting, for lanes with any. */
const SNAPSHOT_LUA = `
local rcall = redis.call
local p = ARGV[1]
local out = {}
for _, model in ipairs(rcall('SMEMBERS', p .. ':models')) do
  for rank = 0, 3 do
    local q = rcall('ZCARD', p .. ':queued:' .. model .. ':' .. rank)
    local w = rcall('ZCARD', p .. ':waiting:' .. model .. ':' .. rank)
    if q + w > 0 then
      out[#out + 1] = model
      out[#out + 1] = rank
      out[#out + 1] = q
      out[#out + 1] = w
    end
  end
end
return out
`;

/** Jobs in each state: ARGV prefix, states... Returns the counts in that order. */
const COUNTS_LUA = `
local out = {}
for i = 2, #ARGV do out[#out + 1] = redis.call('ZCARD', ARGV[1] .. ':status:' .. ARGV[i]) end
return out
`;

/** Deletes finished jobs last updated before ARGV[2] (exclusive), with their timelines: ARGV prefix, before. Returns how many. */
const PURGE_LUA = `${INDEX_LUA}
local p = ARGV[1]
local ids = rcall('ZRANGEBYSCORE', p .. ':finished', '-inf', '(' .. ARGV[2])
for _, id in ipairs(ids) do
  local key = p .. ':job:' .. id
  index(p, stateOf(key), false)
  rcall('ZREM', p .. ':all', id)
  rcall('DEL', key, key .. ':tl')
end
return #ids
`;

/** A queued job as a claim considers it. */
export interface ClaimCandidate {
  id: string;
  modelId: string;
  /** Priority rank, 0 = critical. */
  rank: number;
  createdAt: number;
  sequence: number;
}

/** Counts of one priority lane for a queue position (see LANE_COUNTS_LUA). */
export interface LaneCounts {
  total: number;
  before: number;
  upToAll: number;
  upToTied: number;
}

/** What {@link JobScripts.commit} did. */
export type CommitOutcome = { kind: 'committed'; job: StoredJob } | { kind: 'missing' } | { kind: 'changed' };

type Command = (...args: Array<string | number>) => Promise<unknown>;

const SCRIPTS = {
  usAccept: { numberOfKeys: 2, lua: ACCEPT_LUA },
  usCommit: { numberOfKeys: 2, lua: COMMIT_LUA },
  usRead: { numberOfKeys: 0, lua: READ_LUA },
  usCandidates: { numberOfKeys: 0, lua: CANDIDATES_LUA },
  usLaneCounts: { numberOfKeys: 0, lua: LANE_COUNTS_LUA },
  usSnapshot: { numberOfKeys: 0, lua: SNAPSHOT_LUA },
  usCounts: { numberOfKeys: 0, lua: COUNTS_LUA },
  usPurge: { numberOfKeys: 0, lua: PURGE_LUA },
} as const;

/** Field values as the scripts take them: strings (cjson would print large numbers in exponent form), null to delete. */
function fieldsJson(fields: JobFields): string {
  return JSON.stringify(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v === null ? null : String(v)])));
}

/** The store's scripts on one connection. */
export class JobScripts {
  private readonly commands: Record<keyof typeof SCRIPTS, Command>;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    for (const [name, definition] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, definition);
    }
    this.commands = redis as unknown as Record<keyof typeof SCRIPTS, Command>;
  }

  /** Stores a new job; see ACCEPT_LUA. */
  async accept(id: string, maxQueueSize: number, fields: JobFields, timeline: string[]): Promise<{ kind: 'accepted'; sequence: number } | { kind: 'taken' } | { kind: 'full'; waiting: number }> {
    const reply = (await this.commands.usAccept(this.keys.job(id), this.keys.timeline(id), this.keys.prefix, maxQueueSize, fieldsJson(fields), JSON.stringify(timeline))) as number[];
    if (reply[0] === -1) return { kind: 'taken' };
    if (reply[0] === -2) return { kind: 'full', waiting: Number(reply[1]) };
    return { kind: 'accepted', sequence: Number(reply[1]) };
  }

  /** Changes a job read at `revision`; see COMMIT_LUA. */
  async commit(id: string, revision: number, fields: JobFields, timeline: string[]): Promise<CommitOutcome> {
    const reply = (await this.commands.usCommit(this.keys.job(id), this.keys.timeline(id), this.keys.prefix, revision, fieldsJson(fields), JSON.stringify(timeline))) as [number, string[]?, string[]?];
    if (reply[0] === -1) return { kind: 'missing' };
    if (reply[0] === -2) return { kind: 'changed' };
    return { kind: 'committed', job: { hash: hashOf(reply[1] ?? []), timeline: reply[2] ?? [] } };
  }

  /** The jobs with these ids, null for each that does not exist. */
  async read(ids: readonly string[]): Promise<Array<StoredJob | null>> {
    if (ids.length === 0) return [];
    const reply = (await this.commands.usRead(this.keys.prefix, ...ids)) as Array<[string[], string[]]>;
    return reply.map(([flat, timeline]) => (flat.length === 0 ? null : { hash: hashOf(flat), timeline }));
  }

  /** Claim candidates among the queues of `models`; see CANDIDATES_LUA. */
  async candidates(now: number, take: number, models: readonly string[]): Promise<ClaimCandidate[]> {
    const flat = (await this.commands.usCandidates(this.keys.prefix, now, take, ...models)) as Array<string | number>;
    const out: ClaimCandidate[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      out.push({ id: String(flat[i]), modelId: String(flat[i + 1]), rank: Number(flat[i + 2]), createdAt: Number(flat[i + 3]), sequence: Number(flat[i + 4]) });
    }
    return out;
  }

  /** Lane counts for the queue position of the queued job accepted at `createdAt` with sequence `sequence`. */
  async laneCounts(id: string, createdAt: number, sequence: number, bounds: ReadonlyArray<{ allUpTo: number; tiedUpTo: number }>): Promise<LaneCounts[]> {
    const bound = (n: number): string => (n === Infinity ? '+inf' : n === -Infinity ? '-inf' : String(n));
    const member = `${String(sequence).padStart(15, '0')}:${id}`;
    const args = bounds.flatMap((b) => [bound(b.allUpTo), bound(b.tiedUpTo)]);
    const flat = (await this.commands.usLaneCounts(this.keys.prefix, createdAt, member, ...args)) as number[];
    return bounds.map((_, lane) => ({ total: flat[lane * 4] ?? 0, before: flat[lane * 4 + 1] ?? 0, upToAll: flat[lane * 4 + 2] ?? 0, upToTied: flat[lane * 4 + 3] ?? 0 }));
  }

  /** Waiting jobs per model and lane; see SNAPSHOT_LUA. */
  async snapshot(): Promise<Array<{ modelId: string; rank: number; queued: number; waiting: number }>> {
    const flat = (await this.commands.usSnapshot(this.keys.prefix)) as Array<string | number>;
    const out = [];
    for (let i = 0; i + 3 < flat.length; i += 4) out.push({ modelId: String(flat[i]), rank: Number(flat[i + 1]), queued: Number(flat[i + 2]), waiting: Number(flat[i + 3]) });
    return out;
  }

  /** Jobs in each of `states`, in that order. */
  async counts(states: readonly JobState[]): Promise<number[]> {
    return ((await this.commands.usCounts(this.keys.prefix, ...states)) as number[]).map(Number);
  }

  /** Deletes finished jobs last updated before `before`; resolves with how many. */
  async purge(before: number): Promise<number> {
    return Number(await this.commands.usPurge(this.keys.prefix, before));
  }
}

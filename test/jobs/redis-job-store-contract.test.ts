import { jobStoreContract } from './job-store-contract.js';
import { redisStoreFixture, requireRedis } from '../redis/redis-fixtures.js';

await requireRedis();
jobStoreContract('RedisJobStore', redisStoreFixture);

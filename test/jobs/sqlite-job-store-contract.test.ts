import { jobStoreContract } from './job-store-contract.js';
import { storeFixture } from './job-fixtures.js';

jobStoreContract('SqliteJobStore', storeFixture);

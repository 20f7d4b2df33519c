/** A gateway on a Redis store: the API's engine planning on the live workers, with a local worker unless told not to. */
import type { Understudy } from '../runtime/understudy.js';
import type { EngineBasics } from './build-engine.js';
import type { UnderstudyDependencies } from './create-understudy.js';

/** Builds a gateway on the Redis store of `basics.config.store`. */
export function createGateway(_basics: EngineBasics, _deps: UnderstudyDependencies): Promise<Understudy> {
  return Promise.reject(new Error('the Redis store is not wired in yet'));
}

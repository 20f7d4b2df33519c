import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseModel, type ModelDemand } from '../../src/core/model-spread.js';

const d = (modelId: string, queued: number, running = 0): ModelDemand => ({ modelId, queued, running });

test('nothing to decide: no work, or every model with work already loaded here, takes the queue’s head', () => {
  assert.equal(chooseModel({ resident: ['a'], demand: [], maxSkip: 3 }), undefined);
  assert.equal(chooseModel({ resident: ['a'], demand: [d('a', 0), d('b', 0, 2)], maxSkip: 3 }), undefined);
  assert.equal(chooseModel({ resident: ['a', 'b'], demand: [d('a', 5), d('b', 9, 1), d('c', 0)], maxSkip: 3 }), undefined, 'a model with nothing queued is no reason to prefer');
});

test('a GPU whose model has no work moves to the model with the most queued jobs per server', () => {
  assert.deepEqual(chooseModel({ resident: ['a'], demand: [d('a', 0, 1), d('b', 10, 2), d('c', 6, 1)], maxSkip: 3 }), { modelId: 'b', maxSkip: Infinity, reason: 'move' }, 'b: 10 over 3 servers beats c: 6 over 2');
  assert.equal(chooseModel({ resident: [], demand: [d('b', 4), d('c', 4)], maxSkip: 3 })?.modelId, 'b', 'ties go to the smaller id');
  assert.equal(chooseModel({ resident: [], demand: [d('b', 4, 1), d('c', 6, 2)], maxSkip: 3 })?.modelId, 'c', 'equal per server: more queued wins');
});

test('a model with work and no server takes the slot when the loaded model keeps another server', () => {
  assert.deepEqual(chooseModel({ resident: ['a'], demand: [d('a', 50, 1), d('b', 1, 0)], maxSkip: 3 }), { modelId: 'b', maxSkip: Infinity, reason: 'move' });
});

test('more models than GPUs: when neither would have a server without this slot, bounded affinity decides', () => {
  assert.deepEqual(chooseModel({ resident: ['a'], demand: [d('a', 2, 0), d('b', 40, 0)], maxSkip: 3 }), { modelId: 'a', maxSkip: 3, reason: 'affinity' });
});

test('a GPU with work for its model stays on it at any distance while every other model with work has a server', () => {
  assert.deepEqual(chooseModel({ resident: ['a'], demand: [d('a', 2, 0), d('b', 90, 1), d('c', 40, 2)], maxSkip: 3 }), { modelId: 'a', maxSkip: Infinity, reason: 'stay' }, 'b’s long queue is no reason: aging brings its old jobs to the head');
});

test('the target is the model with the most queued jobs per server; a served target is no reason to leave', () => {
  assert.equal(chooseModel({ resident: ['a'], demand: [d('a', 9, 1), d('b', 90, 1), d('c', 1, 0)], maxSkip: 3 })?.reason, 'stay', 'b (45 per server) is the target and has a server');
  assert.equal(chooseModel({ resident: ['a'], demand: [d('a', 9, 1), d('b', 90, 1), d('c', 50, 0)], maxSkip: 3 })?.modelId, 'c', 'c (50) is the target and has none');
});

test('the order the demand is listed in does not change the choice', () => {
  const demand = [d('a', 3, 1), d('b', 12, 0), d('c', 12, 0)];
  const forward = chooseModel({ resident: ['a'], demand, maxSkip: 3 });
  const backward = chooseModel({ resident: ['a'], demand: [...demand].reverse(), maxSkip: 3 });
  assert.deepEqual(forward, backward);
  assert.equal(forward?.modelId, 'b');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTextGif, wrapText } from '../../src/adapters/gif-writer.js';
import { decodeGif } from './gif-decoder.js';

await test('renderTextGif writes a looping GIF89a with one image per requested frame', () => {
  const frames = [['hello', 'frame 1/3'], ['hello', 'frame 2/3'], ['hello', 'frame 3/3']];
  const bytes = renderTextGif({ width: 160, height: 90, frames, frameDelayMs: 200 });
  assert.equal(String.fromCharCode(...bytes.subarray(0, 6)), 'GIF89a');
  assert.equal(bytes[bytes.length - 1], 0x3b);
  const gif = decodeGif(bytes);
  assert.equal(gif.width, 160);
  assert.equal(gif.height, 90);
  assert.equal(gif.palette.length, 4);
  assert.equal(gif.loopCount, 0);
  assert.deepEqual(gif.delays, [20, 20, 20]);
  assert.equal(gif.frames.length, 3);
});

await test('renderTextGif draws the text: frames with different lines differ, and text pixels use the text colour', () => {
  const gif = decodeGif(renderTextGif({ width: 64, height: 20, frames: [['A'], ['B'], ['A']] }));
  assert.notDeepEqual(gif.frames[0], gif.frames[1]);
  assert.deepEqual(gif.frames[0], gif.frames[2]);
  assert.ok(gif.frames[0]!.includes(1), 'some pixels are in the text colour');
});

await test('renderTextGif survives the LZW table filling up (large, noisy frames need clear codes)', () => {
  const lines = Array.from({ length: 40 }, (_, i) => `${i} The quick brown fox jumps over the lazy dog ${'#%&@'.repeat(i % 5)}`);
  const gif = decodeGif(renderTextGif({ width: 400, height: 360, frames: [lines], banner: 'PREVIEW', progressBar: true }));
  assert.equal(gif.frames.length, 1);
  assert.ok(gif.frames[0]!.includes(2), 'the banner and bar use the accent colour');
});

await test('renderTextGif rejects impossible sizes and empty animations', () => {
  assert.throws(() => renderTextGif({ width: 0, height: 10, frames: [['x']] }), RangeError);
  assert.throws(() => renderTextGif({ width: 10, height: 10, frames: [] }), RangeError);
});

await test('wrapText breaks at spaces and ends what does not fit with an ellipsis', () => {
  const lines = wrapText('a red fox runs across a snowy field at dawn while the camera pans slowly to the left', 160, 2);
  assert.equal(lines.length, 2);
  assert.ok(lines.every((line) => line.length <= 26));
  assert.ok(lines[1]!.endsWith('...'));
  assert.deepEqual(wrapText('short', 160, 2), ['short']);
});

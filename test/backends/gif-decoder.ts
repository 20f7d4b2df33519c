/** A small GIF parser for tests, written from the GIF89a specification independently of the writer. */
import assert from 'node:assert/strict';

/** What a small, independent GIF parser finds in a file. */
export interface DecodedGif {
  width: number;
  height: number;
  palette: number[][];
  loopCount: number | undefined;
  delays: number[];
  /** Palette indices per frame. */
  frames: Uint8Array[];
}

/** Parses a GIF block by block (header, colour table, extensions, image descriptors, trailer) and decodes its LZW. */
export function decodeGif(bytes: Uint8Array): DecodedGif {
  let at = 0;
  const u8 = (): number => {
    assert.ok(at < bytes.length, 'unexpected end of file');
    return bytes[at++]!;
  };
  const u16 = (): number => u8() | (u8() << 8);
  const ascii = (n: number): string => String.fromCharCode(...Array.from({ length: n }, u8));
  const subBlocks = (): Uint8Array => {
    const parts: number[] = [];
    for (let size = u8(); size > 0; size = u8()) for (let i = 0; i < size; i++) parts.push(u8());
    return Uint8Array.from(parts);
  };

  assert.equal(ascii(6), 'GIF89a');
  const width = u16();
  const height = u16();
  const packed = u8();
  u8();
  u8();
  const palette: number[][] = [];
  if (packed & 0x80) for (let i = 0; i < 2 << (packed & 7); i++) palette.push([u8(), u8(), u8()]);
  let loopCount: number | undefined;
  const delays: number[] = [];
  const frames: Uint8Array[] = [];
  for (;;) {
    const introducer = u8();
    if (introducer === 0x3b) break;
    if (introducer === 0x21) {
      const label = u8();
      const body = subBlocks();
      if (label === 0xf9) delays.push(body[1]! | (body[2]! << 8));
      if (label === 0xff && String.fromCharCode(...body.subarray(0, 11)) === 'NETSCAPE2.0') loopCount = body[12]! | (body[13]! << 8);
      continue;
    }
    assert.equal(introducer, 0x2c, `unexpected block 0x${introducer.toString(16)} at byte ${at - 1}`);
    u16();
    u16();
    const frameWidth = u16();
    const frameHeight = u16();
    assert.equal(u8() & 0x80, 0, 'no local colour table expected');
    const minCodeSize = u8();
    frames.push(lzwDecode(subBlocks(), minCodeSize, frameWidth * frameHeight));
  }
  assert.equal(at, bytes.length, 'nothing may follow the trailer');
  return { width, height, palette, loopCount, delays, frames };
}

function lzwDecode(data: Uint8Array, minCodeSize: number, pixelCount: number): Uint8Array {
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  let codeSize = minCodeSize + 1;
  let table: number[][] = [];
  const reset = (): void => {
    table = Array.from({ length: clear }, (_, i) => [i]);
    table.push([], []);
    codeSize = minCodeSize + 1;
  };
  reset();
  const out: number[] = [];
  let bitPos = 0;
  let previous: number[] | undefined;
  for (;;) {
    let code = 0;
    for (let i = 0; i < codeSize; i++, bitPos++) {
      assert.ok(bitPos >> 3 < data.length, 'LZW data ended without an end code');
      code |= ((data[bitPos >> 3]! >> (bitPos & 7)) & 1) << i;
    }
    if (code === clear) {
      reset();
      previous = undefined;
      continue;
    }
    if (code === end) break;
    let entry: number[];
    if (code < table.length) entry = table[code]!;
    else {
      assert.ok(previous && code === table.length, `bad LZW code ${code}`);
      entry = [...previous, previous[0]!];
    }
    out.push(...entry);
    if (previous && table.length < 4096) table.push([...previous, entry[0]!]);
    if (table.length === 1 << codeSize && codeSize < 12) codeSize++;
    previous = entry;
  }
  assert.equal(out.length, pixelCount, 'pixel count of the frame');
  return Uint8Array.from(out);
}

/**
 * Animated GIF rendering of text frames: each frame is a few lines of text drawn with a tiny built-in 5x7 bitmap
 * font on a four-colour palette, encoded as GIF89a (LZW) with a NETSCAPE2.0 loop extension. Pure and synchronous;
 * used by the simulated and preview backends to write small but real outputs.
 */

/** What to draw: one list of text lines per frame, plus optional decorations shared by every frame. */
export interface TextGifOptions {
  /** Image width in pixels, 1 to 65535. */
  width: number;
  /** Image height in pixels, 1 to 65535. */
  height: number;
  /** Lines of text per frame, drawn top-left; lines and characters that do not fit are clipped. At least one frame. */
  frames: readonly (readonly string[])[];
  /** How long each frame shows, in milliseconds (default 250; GIF stores hundredths of a second). */
  frameDelayMs?: number;
  /** Text drawn at double size in the accent colour at the bottom of every frame, e.g. `PREVIEW`. */
  banner?: string;
  /** Whether to draw a bar along the bottom edge that fills up frame by frame (default false). */
  progressBar?: boolean;
  /** How many times viewers repeat the animation; 0 (the default) means forever. */
  loopCount?: number;
}

/** Palette indices; the global colour table holds exactly these four colours. */
const BACKGROUND = 0;
const TEXT = 1;
const ACCENT = 2;
const MUTED = 3;
const PALETTE = [
  [0x12, 0x18, 0x22],
  [0xe8, 0xec, 0xf0],
  [0xff, 0xb0, 0x00],
  [0x3a, 0x48, 0x58],
] as const;
/** Bits per pixel index; the LZW minimum code size for a four-colour table. */
const COLOR_BITS = 2;

const GLYPH_WIDTH = 5;
const GLYPH_HEIGHT = 7;
const CHAR_ADVANCE = GLYPH_WIDTH + 1;
const LINE_ADVANCE = GLYPH_HEIGHT + 2;
const PADDING = 3;
const BAR_HEIGHT = 3;

/**
 * The printable ASCII characters (space to `~`), five columns each, least significant bit at the top row. The
 * classic 5x7 LCD font; anything outside this range is drawn as `?`.
 */
const FONT = [
  '0000000000', '00005f0000', '0007000700', '147f147f14', '242a7f2a12', '2313086462', '3649552250', '0005030000',
  '001c224100', '0041221c00', '082a1c2a08', '08083e0808', '0050300000', '0808080808', '0060600000', '2010080402',
  '3e5149453e', '00427f4000', '4261514946', '2141454b31', '1814127f10', '2745454539', '3c4a494930', '0171090503',
  '3649494936', '064949291e', '0036360000', '0056360000', '0008142241', '1414141414', '4122140800', '0201510906',
  '3249794136', '7e1111117e', '7f49494936', '3e41414122', '7f4141221c', '7f49494941', '7f09090101', '3e41415132',
  '7f0808087f', '00417f4100', '2040413f01', '7f08142241', '7f40404040', '7f0204027f', '7f0408107f', '3e4141413e',
  '7f09090906', '3e4151215e', '7f09192946', '4649494931', '01017f0101', '3f4040403f', '1f2040201f', '7f2018207f',
  '6314081463', '0304780403', '6151494543', '007f414100', '0204081020', '0041417f00', '0402010204', '4040404040',
  '0001020400', '2054545478', '7f48444438', '3844444420', '384444487f', '3854545418', '087e090102', '081454543c',
  '7f08040478', '00447d4000', '2040443d00', '007f102844', '00417f4000', '7c0418047c', '7c08040478', '3844444438',
  '7c14141408', '081414187c', '7c08040408', '4854545420', '043f444020', '3c4040207c', '1c2040201c', '3c4030403c',
  '4428102844', '0c5050503c', '4464544c44', '0008364100', '00007f0000', '0041360800', '0804080408',
];

/** Renders text frames as an animated GIF89a that loops, returning the file's bytes. */
export function renderTextGif(options: TextGifOptions): Uint8Array {
  const { width, height, frames } = options;
  if (!isDimension(width) || !isDimension(height)) {
    throw new RangeError(`expected width and height to be whole numbers from 1 to 65535; received ${width}x${height}`);
  }
  if (frames.length === 0) throw new RangeError('expected at least one frame');
  const delayCentiseconds = Math.min(0xffff, Math.max(0, Math.round((options.frameDelayMs ?? 250) / 10)));
  const loopCount = Math.min(0xffff, Math.max(0, Math.round(options.loopCount ?? 0)));

  const out = new ByteSink();
  out.ascii('GIF89a');
  out.u16(width);
  out.u16(height);
  // Global colour table present, colour resolution and table size both 2^COLOR_BITS entries.
  out.byte(0x80 | ((COLOR_BITS - 1) << 4) | (COLOR_BITS - 1));
  out.byte(BACKGROUND);
  out.byte(0); // square pixels
  for (const rgb of PALETTE) out.bytes(rgb);
  out.bytes([0x21, 0xff, 0x0b]);
  out.ascii('NETSCAPE2.0');
  out.bytes([0x03, 0x01]);
  out.u16(loopCount);
  out.byte(0);

  frames.forEach((lines, index) => {
    const pixels = drawFrame(options, lines, index);
    out.bytes([0x21, 0xf9, 0x04, 0x04]); // graphic control: disposal "do not dispose", no transparency
    out.u16(delayCentiseconds);
    out.bytes([0x00, 0x00]);
    out.byte(0x2c);
    out.u16(0);
    out.u16(0);
    out.u16(width);
    out.u16(height);
    out.byte(0); // no local colour table, not interlaced
    out.byte(COLOR_BITS);
    const compressed = lzwEncode(pixels, COLOR_BITS);
    for (let offset = 0; offset < compressed.length; offset += 255) {
      const block = compressed.subarray(offset, Math.min(offset + 255, compressed.length));
      out.byte(block.length);
      out.bytes(block);
    }
    out.byte(0);
  });
  out.byte(0x3b);
  return out.toBytes();
}

/**
 * Breaks `text` into at most `maxLines` lines that fit an image `width` pixels wide, at spaces where it can; text
 * that does not fit ends in `...`.
 */
export function wrapText(text: string, width: number, maxLines: number): string[] {
  const perLine = Math.max(4, Math.floor((width - 2 * PADDING + 1) / CHAR_ADVANCE));
  const lines: string[] = [];
  let rest = text.replace(/\s+/g, ' ').trim();
  while (rest.length > 0 && lines.length < maxLines) {
    if (rest.length <= perLine) {
      lines.push(rest);
      break;
    }
    const lastLine = lines.length === maxLines - 1;
    const room = lastLine ? perLine - 3 : perLine;
    const space = rest.lastIndexOf(' ', room);
    const cut = space > room / 2 ? space : room;
    lines.push(lastLine ? `${rest.slice(0, cut).trimEnd()}...` : rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  return lines;
}

function isDimension(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 0xffff;
}

function drawFrame(options: TextGifOptions, lines: readonly string[], index: number): Uint8Array {
  const canvas = new Canvas(options.width, options.height);
  lines.forEach((line, row) => canvas.text(PADDING, PADDING + row * LINE_ADVANCE, line, TEXT, 1));
  const barTop = options.height - BAR_HEIGHT;
  if (options.banner) {
    const scale = 2;
    const textWidth = options.banner.length * CHAR_ADVANCE * scale - scale;
    const top = (options.progressBar ? barTop : options.height) - PADDING - GLYPH_HEIGHT * scale;
    canvas.text(Math.max(PADDING, Math.floor((options.width - textWidth) / 2)), top, options.banner, ACCENT, scale);
  }
  if (options.progressBar) {
    const filled = Math.round((options.width * (index + 1)) / options.frames.length);
    canvas.fill(0, barTop, options.width, BAR_HEIGHT, MUTED);
    canvas.fill(0, barTop, filled, BAR_HEIGHT, ACCENT);
  }
  return canvas.pixels;
}

/** A frame of palette indices with clipped drawing. */
class Canvas {
  readonly pixels: Uint8Array;

  constructor(
    private readonly width: number,
    private readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height).fill(BACKGROUND);
  }

  fill(left: number, top: number, width: number, height: number, color: number): void {
    for (let y = Math.max(0, top); y < Math.min(this.height, top + height); y++) {
      for (let x = Math.max(0, left); x < Math.min(this.width, left + width); x++) this.pixels[y * this.width + x] = color;
    }
  }

  text(left: number, top: number, text: string, color: number, scale: number): void {
    let x = left;
    for (const char of text) {
      if (x + GLYPH_WIDTH * scale > this.width) return;
      const glyph = glyphOf(char);
      for (let column = 0; column < GLYPH_WIDTH; column++) {
        const bits = parseInt(glyph.slice(column * 2, column * 2 + 2), 16);
        for (let row = 0; row < GLYPH_HEIGHT; row++) {
          if ((bits >> row) & 1) this.fill(x + column * scale, top + row * scale, scale, scale, color);
        }
      }
      x += CHAR_ADVANCE * scale;
    }
  }
}

function glyphOf(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return FONT[code - 0x20] ?? FONT['?'.charCodeAt(0) - 0x20]!;
}

/** GIF's variable-width LZW: codes packed least significant bit first, a clear code when the table fills. */
function lzwEncode(indices: Uint8Array, minCodeSize: number): Uint8Array {
  const clearCode = 1 << minCodeSize;
  const endCode = clearCode + 1;
  const out = new ByteSink();
  let codeSize = minCodeSize + 1;
  let nextCode = endCode + 1;
  let table = new Map<number, number>();
  let bitBuffer = 0;
  let bitCount = 0;
  const emit = (code: number): void => {
    bitBuffer |= code << bitCount;
    bitCount += codeSize;
    while (bitCount >= 8) {
      out.byte(bitBuffer & 0xff);
      bitBuffer >>>= 8;
      bitCount -= 8;
    }
  };

  emit(clearCode);
  let prefix = indices[0] ?? 0;
  for (let i = 1; i < indices.length; i++) {
    const next = indices[i]!;
    const key = (prefix << 8) | next;
    const known = table.get(key);
    if (known !== undefined) {
      prefix = known;
      continue;
    }
    emit(prefix);
    if (nextCode === 4096) {
      emit(clearCode);
      table = new Map();
      codeSize = minCodeSize + 1;
      nextCode = endCode + 1;
    } else {
      if (nextCode >= 1 << codeSize) codeSize++;
      table.set(key, nextCode++);
    }
    prefix = next;
  }
  emit(prefix);
  emit(endCode);
  if (bitCount > 0) out.byte(bitBuffer & 0xff);
  return out.toBytes();
}

/** A growable byte buffer. */
class ByteSink {
  private buffer = new Uint8Array(1024);
  private length = 0;

  byte(value: number): void {
    if (this.length === this.buffer.length) {
      const grown = new Uint8Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = value & 0xff;
  }

  bytes(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.byte(values[i]!);
  }

  u16(value: number): void {
    this.byte(value & 0xff);
    this.byte(value >> 8);
  }

  ascii(text: string): void {
    for (let i = 0; i < text.length; i++) this.byte(text.charCodeAt(i));
  }

  toBytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

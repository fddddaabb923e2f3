import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { FormatError, type FormatErrorCode } from '../src/formats/errors.js';
import { decodePngGrey, encodePngGrey } from '../src/formats/png.js';

function gradient(width: number, height: number): Uint8Array {
  return Uint8Array.from({ length: width * height }, (_, i) => (i * 37 + (i >> 3)) & 0xff);
}

/** Builds a PNG by hand (independently of the encoder), so the decoder is checked against the spec, not itself. */
function handMadePng(ihdr: { width: number; height: number; depth?: number; colourType: number; interlace?: number }, raw: Uint8Array, extra: Array<[string, Uint8Array]> = []): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const chunk = (type: string, data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    let c = 0xffffffff;
    for (const b of body) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE((c ^ 0xffffffff) >>> 0);
    return Buffer.concat([head, body, tail]);
  };
  const h = Buffer.alloc(13);
  h.writeUInt32BE(ihdr.width, 0);
  h.writeUInt32BE(ihdr.height, 4);
  h[8] = ihdr.depth ?? 8;
  h[9] = ihdr.colourType;
  h[12] = ihdr.interlace ?? 0;
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', h), ...extra.map(([t, d]) => chunk(t, d)), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)),
  ]));
}

function assertFormatError(fn: () => unknown, code: FormatErrorCode, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('when a grey picture is encoded and decoded, then the pixels come back unchanged', () => {
  const pixels = gradient(17, 9);
  const back = decodePngGrey(encodePngGrey(17, 9, pixels));
  assert.equal(back.width, 17);
  assert.equal(back.height, 9);
  assert.deepEqual(back.pixels, pixels);
});

test('when a hand-made RGB PNG uses every row filter, then it decodes to BT.601 luma', () => {
  const [w, h] = [3, 5];
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53 + 11) & 0xff);
  const stride = w * 3;
  const raw = new Uint8Array(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    // Row y uses filter type y (None, Sub, Up, Average, Paeth): encode each by the spec's formula.
    raw[y * (stride + 1)] = y;
    for (let x = 0; x < stride; x++) {
      const cur = rgb[y * stride + x]!;
      const a = x >= 3 ? rgb[y * stride + x - 3]! : 0;
      const b = y > 0 ? rgb[(y - 1) * stride + x]! : 0;
      const c = x >= 3 && y > 0 ? rgb[(y - 1) * stride + x - 3]! : 0;
      const p = a + b - c;
      const pred = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][y]!;
      raw[y * (stride + 1) + 1 + x] = (cur - pred) & 0xff;
    }
  }
  const img = decodePngGrey(handMadePng({ width: w, height: h, colourType: 2 }, raw));
  const expected = Uint8Array.from({ length: w * h }, (_, i) => Math.round(0.299 * rgb[3 * i]! + 0.587 * rgb[3 * i + 1]! + 0.114 * rgb[3 * i + 2]!));
  assert.deepEqual(img.pixels, expected);
});

test('when a palette PNG has a transparent entry, then that pixel reads as white', () => {
  const plte = Uint8Array.of(0, 0, 0, 255, 0, 0);
  const img = decodePngGrey(handMadePng({ width: 2, height: 1, colourType: 3 }, Uint8Array.of(0, 0, 1), [['PLTE', plte], ['tRNS', Uint8Array.of(0)]]));
  assert.deepEqual([...img.pixels], [255, 76]);
});

test('when the signature is wrong, then the error says it is not a PNG', () => {
  const png = encodePngGrey(2, 2, gradient(2, 2));
  png[1] = 0x51;
  assertFormatError(() => decodePngGrey(png), 'WM_ERR_FORMAT_MALFORMED', /signature/);
});

test('when a chunk is corrupted, then its CRC check fails', () => {
  const png = encodePngGrey(4, 4, gradient(4, 4));
  png[18] = png[18]! ^ 0xff; // a byte of the IHDR width (8 signature + 8 chunk header + 2)
  assertFormatError(() => decodePngGrey(png), 'WM_ERR_FORMAT_MALFORMED', /IHDR .* fails its CRC/);
});

test('when the file is cut short, then the error says truncated', () => {
  const png = encodePngGrey(8, 8, gradient(8, 8));
  assertFormatError(() => decodePngGrey(png.subarray(0, png.length - 20)), 'WM_ERR_FORMAT_TRUNCATED', /declares .* bytes but the file ends/);
  assertFormatError(() => decodePngGrey(png.subarray(0, png.length - 12)), 'WM_ERR_FORMAT_TRUNCATED', /before its IEND/);
});

test('when the picture is larger than the limit, then it is refused before inflating', () => {
  const png = handMadePng({ width: 300, height: 2, colourType: 0 }, new Uint8Array(2 * 301));
  assertFormatError(() => decodePngGrey(png), 'WM_ERR_FORMAT_TOO_LARGE', /300x2 exceeds the limit of 256x256/);
  assertFormatError(() => decodePngGrey(encodePngGrey(20, 20, new Uint8Array(400)), { maxSide: 16 }), 'WM_ERR_FORMAT_TOO_LARGE', /16x16/);
});

test('when the image data inflates to more than the header implies, then it is refused', () => {
  const png = handMadePng({ width: 2, height: 2, colourType: 0 }, new Uint8Array(1_000_000));
  assertFormatError(() => decodePngGrey(png), 'WM_ERR_FORMAT_MALFORMED', /could not be inflated to the 6 bytes/);
});

test('when the PNG is interlaced or 16-bit, then the error names the feature and what is supported', () => {
  assertFormatError(() => decodePngGrey(handMadePng({ width: 2, height: 2, colourType: 0, interlace: 1 }, new Uint8Array(6))), 'WM_ERR_FORMAT_UNSUPPORTED', /Interlaced/);
  assertFormatError(() => decodePngGrey(handMadePng({ width: 2, height: 2, colourType: 2, depth: 16 }, new Uint8Array(26))), 'WM_ERR_FORMAT_UNSUPPORTED', /bit depth 16 \(RGB\) is not supported; supported bit depth: 8/);
});

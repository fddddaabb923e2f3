/**
 * A small PNG codec for watermark pictures and uploaded datasets: decode any common 8-bit PNG to greyscale
 * or to its own channels (grey or RGB), encode grey or RGB.
 * Dependency-free (node:zlib for the deflate stream). Only what a logo needs: bit depth 8, no interlace.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { FormatError } from './errors.js';
import { concatBytes } from './common.js';

export interface GreyImage {
  readonly width: number;
  readonly height: number;
  /** Grey levels 0..255, row-major, width × height of them. */
  readonly pixels: Uint8Array;
}

export interface PngLimits {
  /** Largest width and height accepted; a key holds one position per pixel, so pictures stay small. */
  readonly maxSide?: number;
}

export const DEFAULT_PNG_LIMITS = { maxSide: 256 } as const;

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** Colour type → channels per pixel (PNG spec table 11.1). */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const COLOUR_NAMES: Record<number, string> = { 0: 'greyscale', 2: 'RGB', 3: 'palette', 4: 'grey+alpha', 6: 'RGBA' };

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk {
  readonly type: string;
  readonly data: Uint8Array;
}

function readChunks(bytes: Uint8Array): Chunk[] {
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'Not a PNG file: the 8-byte PNG signature is missing');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: Chunk[] = [];
  let at = SIGNATURE.length;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `PNG chunk header at byte ${at} is cut off`);
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG chunk at byte ${at} has an invalid type ${JSON.stringify(type)}`);
    const end = at + 8 + length;
    if (end + 4 > bytes.length) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `PNG chunk ${type} at byte ${at} declares ${length} bytes but the file ends at ${bytes.length}`);
    const stored = view.getUint32(end);
    const computed = crc32(bytes, at + 4, end);
    if (stored !== computed) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG chunk ${type} at byte ${at} fails its CRC (stored ${stored.toString(16)}, computed ${computed.toString(16)})`);
    chunks.push({ type, data: bytes.subarray(at + 8, end) });
    at = end + 4;
    if (type === 'IEND') return chunks;
  }
  throw new FormatError('WM_ERR_FORMAT_TRUNCATED', 'PNG file ends before its IEND chunk');
}

interface Header {
  readonly width: number;
  readonly height: number;
  readonly colourType: number;
}

function readHeader(chunk: Chunk | undefined, maxSide: number): Header {
  if (chunk?.type !== 'IHDR' || chunk.data.length !== 13) throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'PNG must start with a 13-byte IHDR chunk');
  const v = new DataView(chunk.data.buffer, chunk.data.byteOffset, 13);
  const width = v.getUint32(0);
  const height = v.getUint32(4);
  const [depth, colourType, compression, filter, interlace] = [8, 9, 10, 11, 12].map((i) => chunk.data[i]!) as [number, number, number, number, number];
  if (width === 0 || height === 0) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG of ${width}x${height} has no pixels`);
  if (width > maxSide || height > maxSide) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `PNG of ${width}x${height} exceeds the limit of ${maxSide}x${maxSide}`);
  if (CHANNELS[colourType] === undefined) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG colour type ${colourType} does not exist; PNG defines 0, 2, 3, 4, 6`);
  if (depth !== 8) throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `PNG bit depth ${depth} (${COLOUR_NAMES[colourType]}) is not supported; supported bit depth: 8`);
  if (compression !== 0 || filter !== 0) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG compression method ${compression} / filter method ${filter}; PNG defines only 0 / 0`);
  if (interlace !== 0) throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `Interlaced (Adam7) PNG is not supported; save the picture non-interlaced`);
  return { width, height, colourType };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undoes the per-row filters (PNG spec §9); returns the rows without their filter bytes. */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp]! : 0;
      const r = raw[src + x]!;
      switch (type) {
        case 0: out[row + x] = r; break;
        case 1: out[row + x] = r + a; break;
        case 2: out[row + x] = r + b; break;
        case 3: out[row + x] = r + ((a + b) >> 1); break;
        case 4: out[row + x] = r + paeth(a, b, c); break;
        default: throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG row ${y} has filter type ${type}; PNG defines 0 to 4`);
      }
    }
  }
  return out;
}

/** ITU-R BT.601 luma, the usual colour → grey conversion. */
function luma(r: number, g: number, b: number): number {
  return Math.round(0.299 * r + 0.587 * g + 0.114 * b);
}

/** Transparent pixels become white: a logo's transparent background is meant to show the page behind it. */
function overWhite(grey: number, alpha: number): number {
  return Math.round((grey * alpha + 255 * (255 - alpha)) / 255);
}

function toGrey(data: Uint8Array, header: Header, palette: Uint8Array | undefined, paletteAlpha: Uint8Array | undefined): Uint8Array {
  const n = header.width * header.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    switch (header.colourType) {
      case 0: out[i] = data[i]!; break;
      case 4: out[i] = overWhite(data[2 * i]!, data[2 * i + 1]!); break;
      case 2: out[i] = luma(data[3 * i]!, data[3 * i + 1]!, data[3 * i + 2]!); break;
      case 6: out[i] = overWhite(luma(data[4 * i]!, data[4 * i + 1]!, data[4 * i + 2]!), data[4 * i + 3]!); break;
      default: {
        const p = data[i]!;
        if (3 * p + 2 >= palette!.length) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG pixel ${i} uses palette entry ${p}, but PLTE holds ${palette!.length / 3}`);
        out[i] = overWhite(luma(palette![3 * p]!, palette![3 * p + 1]!, palette![3 * p + 2]!), paletteAlpha?.[p] ?? 255);
      }
    }
  }
  return out;
}

/** The unfiltered samples of a PNG, with what is needed to interpret them. */
interface RawPng {
  readonly header: Header;
  readonly data: Uint8Array;
  readonly palette: Uint8Array | undefined;
  readonly paletteAlpha: Uint8Array | undefined;
}

function decodeRaw(bytes: Uint8Array, limits: PngLimits): RawPng {
  const chunks = readChunks(bytes);
  const header = readHeader(chunks[0], limits.maxSide ?? DEFAULT_PNG_LIMITS.maxSide);
  for (const c of chunks) {
    // An unknown critical chunk (upper-case first letter) changes how the image must be read (PNG spec §5.4).
    if (/^[A-Z]/.test(c.type) && !['IHDR', 'PLTE', 'IDAT', 'IEND'].includes(c.type)) {
      throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `PNG critical chunk ${c.type} is not supported; supported: IHDR, PLTE, IDAT, IEND`);
    }
  }
  const palette = chunks.find((c) => c.type === 'PLTE')?.data;
  if (header.colourType === 3 && (!palette || palette.length === 0 || palette.length % 3 !== 0)) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'Palette PNG has no valid PLTE chunk');
  }
  const idat = chunks.filter((c) => c.type === 'IDAT');
  if (idat.length === 0) throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'PNG has no IDAT chunk');
  const compressed = new Uint8Array(idat.reduce((s, c) => s + c.data.length, 0));
  let at = 0;
  for (const c of idat) {
    compressed.set(c.data, at);
    at += c.data.length;
  }
  const bpp = CHANNELS[header.colourType]!;
  const stride = header.width * bpp;
  const expected = header.height * (stride + 1);
  let raw: Uint8Array;
  try {
    // Capped at the exact size the header implies, so a deflate bomb stops at a few hundred KB.
    raw = inflateSync(compressed, { maxOutputLength: expected });
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    const code = /end of file/i.test(detail) ? 'WM_ERR_FORMAT_TRUNCATED' : 'WM_ERR_FORMAT_MALFORMED';
    throw new FormatError(code, `PNG image data could not be inflated to the ${expected} bytes its header implies (${detail})`, { cause: e });
  }
  if (raw.length !== expected) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `PNG image data inflates to ${raw.length} bytes; ${header.width}x${header.height} ${COLOUR_NAMES[header.colourType]} needs ${expected}`);
  const paletteAlpha = chunks.find((c) => c.type === 'tRNS' && header.colourType === 3)?.data;
  return { header, data: unfilter(raw, header.height, stride, bpp), palette, paletteAlpha };
}

/**
 * Decodes a PNG to greyscale (colour by BT.601 luma; transparency composited over white).
 * Supports greyscale, grey+alpha, RGB, RGBA and palette images at bit depth 8, not interlaced.
 * @throws FormatError: WM_ERR_FORMAT_MALFORMED (signature, CRC, header, filter, deflate stream),
 *   WM_ERR_FORMAT_TRUNCATED (file cut short), WM_ERR_FORMAT_UNSUPPORTED (other bit depths, interlace),
 *   WM_ERR_FORMAT_TOO_LARGE (a side above `limits.maxSide`, default 256).
 */
export function decodePngGrey(bytes: Uint8Array, limits: PngLimits = {}): GreyImage {
  const { header, data, palette, paletteAlpha } = decodeRaw(bytes, limits);
  return { width: header.width, height: header.height, pixels: toGrey(data, header, palette, paletteAlpha) };
}

/** A decoded image with its channels interleaved (HWC): 1 for greyscale PNGs, 3 for colour ones. */
export interface PixelImage {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly pixels: Uint8Array;
}

/**
 * Decodes a PNG keeping its colour: greyscale (and grey+alpha) → 1 channel, RGB, RGBA and palette → 3
 * (RGB). Transparency is composited over white, as decodePngGrey does. @throws as decodePngGrey.
 */
export function decodePngPixels(bytes: Uint8Array, limits: PngLimits = {}): PixelImage {
  const { header, data, palette, paletteAlpha } = decodeRaw(bytes, limits);
  const { width, height, colourType } = header;
  if (colourType === 0 || colourType === 4) return { width, height, channels: 1, pixels: toGrey(data, header, palette, paletteAlpha) };
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      let v: number;
      if (colourType === 2) v = data[3 * i + k]!;
      else if (colourType === 6) v = overWhite(data[4 * i + k]!, data[4 * i + 3]!);
      else {
        const p = data[i]!;
        if (3 * p + 2 >= palette!.length) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `PNG pixel ${i} uses palette entry ${p}, but PLTE holds ${palette!.length / 3}`);
        v = overWhite(palette![3 * p + k]!, paletteAlpha?.[p] ?? 255);
      }
      out[3 * i + k] = v;
    }
  }
  return { width, height, channels: 3, pixels: out };
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Encodes an 8-bit greyscale PNG (filter 0 on every row, one IDAT).
 * @throws Error when the size is not a positive integer or pixels.length is not width × height.
 */
export function encodePngGrey(width: number, height: number, pixels: Uint8Array): Uint8Array {
  return encodePngPixels(width, height, 1, pixels);
}

/**
 * Encodes an 8-bit greyscale (1 channel) or RGB (3 channels, interleaved) PNG.
 * @throws Error when the size is not a positive integer or pixels.length is not width × height × channels.
 */
export function encodePngPixels(width: number, height: number, channels: 1 | 3, pixels: Uint8Array): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`A PNG needs a positive integer size, got ${width}x${height}`);
  const stride = width * channels;
  if (pixels.length !== stride * height) throw new Error(`A ${width}x${height} picture needs ${stride * height} pixels, got ${pixels.length}`);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth; compression, filter and interlace all 0
  ihdr[9] = channels === 1 ? 0 : 2;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return concatBytes([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

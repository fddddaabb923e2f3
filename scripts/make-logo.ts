/**
 * Writes docs/images/logo.png, the picture the README's `--key-image` example embeds: a 32×32 greyscale
 * mark (a ring around a "W"), one key position per pixel, so a 1,024-position key like the default one.
 * Two tones, as the paper's logos: the mark reads back clearly from the extracted values.
 *
 *   npx tsx scripts/make-logo.ts [OUT.png]     (test/readme-walkthrough.test.ts checks the committed file is this)
 */
import { writeFileSync } from 'node:fs';
import { encodePngGrey } from '../src/formats/png.js';

export const LOGO_SIZE = 32;

/** Grey levels, row-major: black (0) on the ring and the strokes of the W, white (255) elsewhere. */
export function logoPixels(size = LOGO_SIZE): Uint8Array {
  const c = (size - 1) / 2;
  // The W: four strokes between these points, in units of the picture's side.
  const points = [[0.27, 0.33], [0.38, 0.68], [0.5, 0.42], [0.62, 0.68], [0.73, 0.33]].map(([x, y]) => [x! * (size - 1), y! * (size - 1)] as const);
  const nearStroke = (x: number, y: number): boolean =>
    points.slice(1).some(([x2, y2], i) => {
      const [x1, y1] = points[i]!;
      const [dx, dy] = [x2 - x1, y2 - y1];
      const t = Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)));
      return Math.hypot(x - (x1 + t * dx), y - (y1 + t * dy)) < size * 0.045;
    });
  return Uint8Array.from({ length: size * size }, (_, i) => {
    const [x, y] = [i % size, Math.floor(i / size)];
    const r = Math.hypot(x - c, y - c);
    return (r > size * 0.4 && r < size * 0.48) || nearStroke(x, y) ? 0 : 255;
  });
}

export function logoPng(): Uint8Array {
  return encodePngGrey(LOGO_SIZE, LOGO_SIZE, logoPixels());
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? 'docs/images/logo.png';
  writeFileSync(out, logoPng());
  console.log(`wrote ${out} (${LOGO_SIZE}x${LOGO_SIZE})`);
}

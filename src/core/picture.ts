/** Keys made from a picture, drawn back as one: the key's own values, or the values read from a model. */
import type { WatermarkKey } from './watermarkKey.js';

/**
 * The extracted values of an image key as grey levels: the inverse of keygen's pixel → ((p/255)·2−1)·A,
 * with A the white-pixel value the key records per tensor. Keys made before it was recorded fall back to
 * the largest |key value| in the tensor (exact when that share of the picture holds a white or black
 * pixel). Fixed by the key rather than by the suspect, a damaged mark shows as a faded picture instead of
 * being stretched back to full contrast, as min-max scaling of the extracted values would do.
 */
export function extractedPicture(key: WatermarkKey, extracted: ArrayLike<number>): Uint8Array {
  const peak = key.tensors.map(() => 0);
  key.values.forEach((v, i) => (peak[key.tensorIndex[i]!] = Math.max(peak[key.tensorIndex[i]!]!, Math.abs(v))));
  const amplitude = key.image?.amplitudes ?? peak;
  return Uint8Array.from(key.values, (_, i) => {
    const c = amplitude[key.tensorIndex[i]!]!;
    const p = c > 0 ? ((extracted[i]! / c + 1) / 2) * 255 : 127.5;
    return Math.min(255, Math.max(0, Math.round(p)));
  });
}

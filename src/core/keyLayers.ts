/**
 * Which layer a keyed tensor belongs to: the unit the score tests on its own. A key made by the
 * service records it (`layers`); for other keys it is the tensor name without its last component
 * (`conv1/kernel` → `conv1`, `fc1.weight` → `fc1`), so a kernel and its bias form one layer.
 */
import type { WatermarkKey } from './watermarkKey.js';

export function layerOfName(name: string): string {
  const cut = Math.max(name.lastIndexOf('/'), name.lastIndexOf('.'));
  return cut > 0 ? name.slice(0, cut) : name;
}

export function layerOfTensor(key: Pick<WatermarkKey, 'tensors' | 'layers'>, tensorIndex: number): string {
  return key.layers?.[tensorIndex] ?? layerOfName(key.tensors[tensorIndex]?.name ?? String(tensorIndex));
}

/**
 * The watermark key: secret positions (tensor, flat index) and the value fixed at each. It never goes
 * into a model file; its JSON form is versioned (`format`, `version`).
 */
export type KeyValueKind = 'scale-matched' | 'uniform' | 'image' | 'message' | 'distribution-matched';

export interface KeyedTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface WatermarkKey {
  readonly format: 'weightmark-key';
  /** 1: values only (uploaded keys, pictures, messages); 2: adds the committed signal and the commitment digest. */
  readonly version: 1 | 2;
  readonly id: string;
  /** Architecture the key was generated for, when known. */
  readonly arch?: string;
  readonly valueKind: KeyValueKind;
  /** The tensors positions refer to, in the order of the param set the key was made for. */
  readonly tensors: readonly KeyedTensor[];
  /** Parallel arrays of length n: tensorIndex[i] into `tensors`, flatIndex[i] into that tensor's data, values[i] a float32. */
  readonly tensorIndex: readonly number[];
  readonly flatIndex: readonly number[];
  readonly values: readonly number[];
  /** Layer of each entry of `tensors` (the unit the score tests alone); absent: derived from the names. */
  readonly layers?: readonly string[];
  /**
   * Version 2: the committed standard normal draw at each position. The marked value is a monotone
   * function of it (the layer's weight quantile at Φ(signal)); the score tests the signal, whose null
   * distribution is exact.
   */
  readonly signal?: readonly number[];
  /** Version 2: sha256 of the commitment the positions and signal were derived from (see core/commitment.ts). */
  readonly commitment?: string;
  /**
   * For valueKind 'image': the picture's size (values are the pixels in row-major order) and, per keyed
   * tensor, the value a white pixel took there (2 × the tensor's scale), so the picture can be redrawn.
   */
  readonly image?: { readonly width: number; readonly height: number; readonly amplitudes?: readonly number[] };
  /** For valueKind 'message': the UTF-8 message whose bits are the signs of the values. */
  readonly message?: string;
}

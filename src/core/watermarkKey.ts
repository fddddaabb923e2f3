/**
 * The watermark key: secret positions (tensor, flat index) and the value fixed at each. It never goes
 * into a model file; its JSON form is versioned (`format`, `version`).
 */
export type KeyValueKind = 'scale-matched' | 'uniform' | 'image' | 'message';

export interface KeyedTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface WatermarkKey {
  readonly format: 'weightmark-key';
  readonly version: 1;
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
  /**
   * For valueKind 'image': the picture's size (values are the pixels in row-major order) and, per keyed
   * tensor, the value a white pixel took there (2 × the tensor's scale), so the picture can be redrawn.
   */
  readonly image?: { readonly width: number; readonly height: number; readonly amplitudes?: readonly number[] };
  /** For valueKind 'message': the UTF-8 message whose bits are the signs of the values. */
  readonly message?: string;
}

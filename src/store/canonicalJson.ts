/** Canonical JSON lives in the pure core (keys' commitments hash it too). */
export { canonicalJson } from '../core/canonicalJson.js';

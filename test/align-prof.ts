import { getArchitecture } from '../src/core/architectures.js';
import { alignToKey } from '../src/core/align/index.js';
import { solveAssignment } from '../src/core/linearAssignment.js';
import { embedKey, obfuscate, randomParams, rngFrom, toTorch } from './align-helpers.js';
const arch = getArchitecture('lenet5');
const rng = rngFrom(40);
const ref = randomParams(arch, rng);
const key = embedKey(ref, 1000, rng);
const suspect = toTorch(obfuscate(ref, arch, rng, { permute: true, scaleRange: 2 }), arch);
for (let k = 0; k < 2; k++) { const t0 = performance.now(); const res = alignToKey(suspect, key, { reference: ref }); console.log('align', performance.now() - t0, res.comparisons); }
const unrelated = toTorch(randomParams(arch, rngFrom(99)), arch);
{ const t0 = performance.now(); const res = alignToKey(unrelated, key, { reference: ref }); console.log('align unrelated', performance.now() - t0, res.comparisons, res.notes); }
const c = Float64Array.from({ length: 250000 }, () => rng());
{ const t0 = performance.now(); solveAssignment(c, 500, 500); console.log('hungarian random 500', performance.now() - t0); }

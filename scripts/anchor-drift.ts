/**
 * What the invariant alignment's reference costs on a long run: a committed model, unattacked, permuted
 * and rescaled, scored with the invariant stage aligning onto its anchor (the weights from before the key
 * was drawn — what the service and the robustness reports do, so that the reference holds no key value)
 * and onto the final model itself. The gap is how far the network drifted after the key draw; the bits
 * (BER) are the same either way. Prints a markdown table (a few seconds per model, no evaluation).
 *
 *   npx tsx scripts/anchor-drift.ts [DIR ...]     (default: models/allcnnc models/resnet32)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttack } from '../src/attacks/index.js';
import { keyScorer } from '../src/attacks/pipeline.js';
import type { SweepModel } from '../src/attacks/sweep.js';
import type { AttackContext } from '../src/attacks/types.js';
import { getArchitecture } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { loadKeyFile, loadModel } from '../src/cli/modelFiles.js';
import { readModel } from '../src/formats/index.js';

const dirs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['models/allcnnc', 'models/resnet32'];
// Permutation and rescaling need no trainer or attacker key; the seed fixes which units move and by how much.
const ctx: AttackContext = { seed: 1 };
const cases = [['unattacked', null, 0], ['rescaled ×4', 'rescale', 4], ['rescaled ×10', 'rescale', 10], ['every unit permuted', 'permute', 1]] as const;

console.log('| model | suspect | plain r | invariant onto the anchor: r (BER) | invariant onto the final model: r (BER) |');
console.log('|---|---|---|---|---|');
for (const dir of dirs) {
  const info = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8')) as { arch: string };
  const arch = getArchitecture(info.arch);
  const params: ParamSet = { ...loadModel(dir, arch.name).params, arch: arch.name };
  const key = loadKeyFile(join(dir, 'key.json'));
  const anchorFile = join(dir, 'anchor.safetensors');
  if (!existsSync(anchorFile)) throw new Error(`${dir} has no anchor.safetensors`);
  const anchor: ParamSet = { arch: arch.name, tensors: readModel([{ name: anchorFile, bytes: new Uint8Array(readFileSync(anchorFile)) }]).params.tensors };
  const score = keyScorer(key);
  const owner: SweepModel = { label: dir, params, arch, key };
  for (const [label, attack, strength] of cases) {
    const suspect = attack === null ? params : (await getAttack(attack).run(params, arch, strength, ctx)).set;
    const plain = await score(suspect, arch, owner, { invariant: false });
    const cells: string[] = [];
    for (const o of [{ ...owner, anchor }, owner]) {
      const s = await score(suspect, arch, o, { invariant: true });
      cells.push(`${s.r.toFixed(4)} (${s.ber})`);
    }
    console.log(`| ${dir} | ${label} | ${plain.r.toFixed(4)} | ${cells.join(' | ')} |`);
  }
}

import * as tf from '@tensorflow/tfjs';
import { createGradientEngine, initParams } from '/work/main/src/training/engine.ts';
import { loadDataset } from '/work/main/src/data/datasets.ts';
const d = loadDataset('mnist', 'train', { limit: 50 });
const params = initParams('lenet5', 3);
const eng = await createGradientEngine('lenet5', { threads: 1 });
const r = await eng.lossAndGrads(params, { x: d.x, y: d.y, n: 50 });
console.log('engine', eng.backend, 'loss', r.loss);
await tf.setBackend('cpu');
const P = params.map((p, i) => tf.tensor(p));
const shapes = [[5,5,1,20],[20],[5,5,20,50],[50],[800,500],[500],[500,10],[10]];
const ps = P.map((t, i) => t.reshape(shapes[i]!));
const x = tf.tensor4d(d.x, [50, 28, 28, 1]);
const y = tf.oneHot(tf.tensor1d(Array.from(d.y), 'int32'), 10);
const f = (...w: tf.Tensor[]) => {
  let h = tf.relu(tf.add(tf.conv2d(x, w[0] as tf.Tensor4D, 1, 'valid'), w[1]!));
  h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
  h = tf.relu(tf.add(tf.conv2d(h as tf.Tensor4D, w[2] as tf.Tensor4D, 1, 'valid'), w[3]!));
  h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
  h = h.reshape([50, 800]);
  h = tf.relu(tf.add(tf.matMul(h as tf.Tensor2D, w[4] as tf.Tensor2D), w[5]!));
  h = tf.add(tf.matMul(h as tf.Tensor2D, w[6] as tf.Tensor2D), w[7]!);
  return tf.losses.softmaxCrossEntropy(y, h);
};
const g = tf.grads(f)(ps);
console.log('ref loss', (f(...ps) as tf.Tensor).dataSync()[0]);
g.forEach((gi, i) => {
  const a = gi.dataSync(); const b = r.grads[i]!;
  let num = 0, den = 0; for (let k = 0; k < a.length; k++) { num += (a[k]! - b[k]!) ** 2; den += a[k]! ** 2; }
  console.log(i, 'relerr', Math.sqrt(num / den).toExponential(2), 'norm', Math.sqrt(den).toExponential(2));
});
await eng.dispose();

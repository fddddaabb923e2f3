/**
 * `weightmark prepare-data`: decodes a dataset archive into the cache once, ahead of training (CIFAR-10's
 * 60,000 JPEGs take ~12 s on 2 cores; later loads read the cache in ~2 s), and says what it holds.
 */
import { CIFAR10_CLASSES, loadCifar10 } from '../data/cifar10.js';
import { oneOf, parse } from './args.js';

export async function runPrepareData(argv: string[]): Promise<number> {
  const a = parse(argv, { dataset: { type: 'string' }, archive: { type: 'string' }, 'cache-dir': { type: 'string' } });
  if (a.help) {
    console.log(`weightmark prepare-data --dataset cifar10 [--archive FILE.tar.gz] [--cache-dir DIR] [--json]
  archive: WEIGHTMARK_CIFAR10_ARCHIVE, or ../shared/datasets/cifar10-jpeg.tar.gz beside the repository
  cache:   WEIGHTMARK_CACHE_DIR, or ~/.cache/weightmark (184 MB for CIFAR-10)`);
    return 0;
  }
  oneOf(a.dataset, 'dataset', ['cifar10'] as const, 'cifar10');
  const started = performance.now();
  const c = loadCifar10({
    ...(a.archive ? { archive: a.archive } : {}), ...(a['cache-dir'] ? { cacheDir: a['cache-dir'] } : {}),
    onProgress: a.json ? undefined : (done, total) => process.stderr.write(`\rdecoding ${done}/${total}`),
  });
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    dataset: 'cifar10', train: c.train.n, test: c.test.n, classes: CIFAR10_CLASSES, mean: c.mean, std: c.std,
    archiveSha256: c.archiveSha256, cacheFile: c.cacheFile, built: c.built, seconds: Number(seconds.toFixed(1)),
  };
  if (a.json) console.log(JSON.stringify(summary));
  else {
    if (c.built) process.stderr.write('\n');
    console.log(`CIFAR-10: ${c.train.n} training and ${c.test.n} test images, ${c.built ? 'decoded into' : 'read from'} ${c.cacheFile} in ${seconds.toFixed(1)} s`);
    console.log(`per-channel mean ${c.mean.map((v) => v.toFixed(4)).join(' ')}, std ${c.std.map((v) => v.toFixed(4)).join(' ')} (RGB, pixels in [0, 1])`);
  }
  return 0;
}

/**
 * `npm run bench`: every benchmark, one table each. Timing lives here, never in unit tests. The
 * machine is shared and noisy: each table prints its spread and the load average, and training speed is
 * reported as a ratio against PyTorch measured in the same run.
 *
 *   npm run bench                 # all
 *   npm run bench -- training     # one or more of: training cifar extraction formats verify verify-cifar scale startup replicas
 */
import os from 'node:os';
import { extractionTable, runExtractionBench } from './extraction.js';
import { formatsSpeedTable, runFormatsSpeed } from './formats-speed.js';
import { runTrainingSpeed } from './training-speed.js';
import { runCifarSpeed } from './cifar-speed.js';
import { benchVerifyLatency, formatVerifyLatency } from './verify-latency.js';
import { benchVerifyCifar, formatVerifyCifar } from './verify-cifar.js';
import { benchVerifyScale, formatScale, type ScaleRow } from './verify-scale.js';
import { benchStartup, formatStartup } from './startup.js';
import { benchReplicas, formatReplicas } from './replicas.js';

const all = ['training', 'cifar', 'extraction', 'formats', 'verify', 'verify-cifar', 'scale', 'startup', 'replicas'] as const;
const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = asked.filter((a) => !(all as readonly string[]).includes(a));
if (unknown.length > 0) {
  console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Available: ${all.join(', ')}`);
  process.exit(2);
}
const run = new Set(asked.length > 0 ? asked : all);

if (run.has('training')) {
  console.log('\n## Training speed (LeNet5, batch 100, SGD) against PyTorch CPU\n');
  await runTrainingSpeed();
}
if (run.has('cifar')) {
  console.log('\n## Training speed (ResNet-32, ALL-CNN-C, batch 128, SGD momentum) against PyTorch CPU\n');
  await runCifarSpeed();
}
if (run.has('extraction')) {
  console.log('\n## Extraction and score\n');
  console.log(extractionTable(runExtractionBench()));
}
if (run.has('formats')) {
  console.log('\n## Parsing model files against reading them\n');
  console.log(formatsSpeedTable(await runFormatsSpeed({ log: (l) => console.error(l) })));
}
if (run.has('verify')) {
  console.log('\n## Verification through the API (8 concurrent clients, loopback)\n');
  console.log(formatVerifyLatency(await benchVerifyLatency({ concurrency: 8 })));
}
if (run.has('verify-cifar')) {
  console.log('\n## Verification of CIFAR-10 networks through the API (one client, one request at a time, loopback)\n');
  const before = os.loadavg();
  console.log(formatVerifyCifar(await benchVerifyCifar()));
  console.log(`load average before ${before.map((l) => l.toFixed(2)).join(' ')}, after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.availableParallelism()} cores, shared)`);
}
if (run.has('scale')) {
  console.log('\n## Verification at licensor scale: K registered keys on one reference (8 concurrent clients, loopback)\n');
  const rows: ScaleRow[] = [];
  for (const k of [100, 1000, 10000]) rows.push(await benchVerifyScale(k));
  console.log(formatScale(rows));
}
if (run.has('startup')) {
  console.log('\n## Start-up: the compiled build against the sources through tsx (median of 5)\n');
  console.log(formatStartup(await benchStartup()));
}
if (run.has('replicas')) {
  console.log('\n## Verifications/s with 1 and 2 API replicas on one box (PostgreSQL + S3 endpoint shared; 8 clients, loopback)\n');
  const before = os.loadavg();
  console.log(formatReplicas(await benchReplicas()));
  console.log(`load average before ${before.map((l) => l.toFixed(2)).join(' ')}, after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.availableParallelism()} cores, shared)`);
}

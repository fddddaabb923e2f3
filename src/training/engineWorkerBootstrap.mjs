// Entry of an engine worker thread. Under tsx the worker code is TypeScript, and on Node 20 a worker's
// entry module does not go through loaders given by --import, so tsx is registered here first.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);

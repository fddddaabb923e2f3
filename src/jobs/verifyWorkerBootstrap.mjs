// Entry of a verification worker thread. On Node 20 a worker's entry module does not go through
// loaders given by --import, so under tsx the TypeScript loader is registered here first.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);

// The load generator of bench/verify-scale.ts, in a worker thread of its own: sharing the service's
// event loop, the client's parsing and socket work was counted as the service's (~2 ms of its ~12 ms
// per request). Plain JavaScript so the worker starts without the TypeScript loader.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { url, token, body, type, requests, concurrency } = workerData;
const payload = Buffer.from(body);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function verify() {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/verifications`, { method: 'POST', agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type, 'Content-Length': payload.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const latencies = [];
let errors = 0;
let next = 0;
const start = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < requests) {
    next++;
    const r = await verify();
    latencies.push(r.ms);
    if (r.status !== 201) errors++;
  }
}));
const wall = (performance.now() - start) / 1000;
agent.destroy();
parentPort.postMessage({ latencies, errors, wall });

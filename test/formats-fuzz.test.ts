import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';

const PER_FORMAT = 2000; // × 9 formats (6 model formats, 3 dataset forms) = 18,000 cases
const CASE_TIMEOUT_MS = 3000; // no progress for this long = a hang; the worker is terminated

test(`when ${PER_FORMAT} mutated files of every format are read, then each parses to a well-formed param set or dataset or throws FormatError (DatasetError), none hangs`, { timeout: 60_000 }, async () => {
  const worker = new Worker(new URL('./formats-fuzz.worker.mjs', import.meta.url), { workerData: { seed: 20261128, perFormat: PER_FORMAT } });
  const failures: string[] = [];
  let last: unknown;
  let outcomes: Record<string, Record<string, number>> | undefined;
  await new Promise<void>((resolve, reject) => {
    let timer = setTimeout(() => hang(), CASE_TIMEOUT_MS * 3); // the first case also pays for loading
    const hang = () => {
      failures.push(`hang: no progress for ${CASE_TIMEOUT_MS} ms after case ${JSON.stringify(last)}`);
      void worker.terminate().then(() => resolve());
    };
    worker.on('message', (m: { type: string; c?: unknown; i?: number; outcome?: string; outcomes?: Record<string, Record<string, number>> }) => {
      clearTimeout(timer);
      timer = setTimeout(hang, CASE_TIMEOUT_MS);
      if (m.type === 'case') last = { i: m.i, ...(m.c as object) };
      else if (m.type === 'failure') failures.push(`${JSON.stringify(m.c)}: ${m.outcome}`);
      else if (m.type === 'done') {
        clearTimeout(timer);
        outcomes = m.outcomes;
        void worker.terminate().then(() => resolve());
      }
    });
    worker.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
  if (outcomes) for (const [format, counts] of Object.entries(outcomes)) console.log(`${format}: ${JSON.stringify(counts)}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failing cases`);
  assert.ok(outcomes, 'the fuzz run finished');
  for (const [format, counts] of Object.entries(outcomes!)) {
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), PER_FORMAT, format);
  }
});

#!/usr/bin/env node
import { UsageError } from './args.js';

const usage = `weightmark — prove ownership of neural networks

Local commands (no server needed):
  weightmark train     --arch lenet5 --dataset mnist|--data FILE --strategy naive|delve|none --epochs 4 --out DIR [--limit N] [--embed-at F] [--key-seed S] [--key-image PNG | --key-message TEXT] [--json]
                       (a committed key by default: commitment.json is written before training, the key drawn from it part-way)
  weightmark watermark --model FILE_OR_DIR --out DIR [--dataset D] [--epochs 2]   lock a committed key into a model trained elsewhere (.pt, ONNX, …)
  weightmark extract   --model FILE_OR_DIR --key FILE [--commitment FILE] [--reference FILE_OR_DIR] [--image OUT.png] [--json]
  weightmark finetune  --model DIR --epochs 1 --lr 0.01 --out DIR [--dataset mnist] [--json]
  weightmark export    --model FILE_OR_DIR --format onnx|safetensors|tfjs|npz|pt --out PATH
  weightmark attack    --model FILE_OR_DIR --key FILE (--attack NAME | --chain "low-rank:15,fine-tune:1") [--options k=v] (--strength X | --sweep [X,Y,Z]) [--out DIR] (--list: the attacks)
  weightmark prepare-data --dataset cifar10 [--archive FILE.tar.gz] [--cache-dir DIR]   decode a dataset archive into the cache once

Service:
  weightmark serve                         start the HTTP service (same as npm start)
  weightmark token --role R --sub S --ttl T   mint a token from the local signing key
  weightmark worker [--concurrency N]      run jobs from the queue in PostgreSQL (docs/deploy.md)
  weightmark migrate-store [--data-dir DIR]   move an embedded install into PostgreSQL + S3 (docs/deploy.md)
  weightmark rotate-master-key --new-key-file FILE   re-seal every watermark key under a new master key
  weightmark <api command> …               talk to a running server (listed below; <api command> --help for its flags)
  weightmark api <api command> …           the same, also for train and attack, whose local commands take the plain name

Every command takes --json for machine-readable output. Exit codes: 0 done, 1 failed (or the server
refused, or the job did not succeed), 2 bad usage.`;

type Handler = (argv: string[]) => Promise<number>;

// Loaded on use: the training and format modules take about a second to import, which `--help`, `token`
// and every API command would otherwise pay.
const local: Record<string, () => Promise<Handler>> = {
  train: async () => (await import('./localCommands.js')).runTrain,
  watermark: async () => (await import('./watermarkCommand.js')).runWatermark,
  extract: async () => (await import('./localCommands.js')).runExtract,
  finetune: async () => (await import('./localCommands.js')).runFinetune,
  export: async () => (await import('./localCommands.js')).runExport,
  attack: async () => (await import('./attackCommand.js')).runAttack,
  'prepare-data': async () => (await import('./prepareData.js')).runPrepareData,
  'migrate-store': async () => (await import('./migrateStore.js')).runMigrateStore,
  'rotate-master-key': async () => (await import('./rotateMasterKey.js')).runRotateMasterKey,
  worker: async () => (await import('./worker.js')).runWorker,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    const { clientUsage } = await import('./client.js');
    (command ? console.log : console.error)(`${usage}\n\n${clientUsage()}`);
    return command ? 0 : 2;
  }
  const load = local[command];
  if (load) return (await load())(rest);
  const service = await import('./serviceCommands.js');
  if (command === 'api') {
    if (!rest[0]) throw new UsageError('weightmark api needs an API command, e.g. weightmark api train --help');
    return service.runServiceCommand(rest[0], rest.slice(1), usage);
  }
  if (command !== 'serve') {
    const { clientCommandNames } = await import('./client.js');
    const known = clientCommandNames();
    if (!known.includes(command)) {
      const near = closest(command, [...Object.keys(local), 'serve', 'api', ...known]);
      throw new UsageError(`unknown command '${command}'${near ? `; did you mean '${near}'?` : ''} (weightmark --help lists every command)`);
    }
  }
  return service.runServiceCommand(command, rest, usage);
}

/** The candidate within edit distance 2 of `word` (the nearest), if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row;
    }
    return prev[b.length]!;
  };
  const best = candidates.map((c) => ({ c, d: distance(word, c) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 2 ? best.c : undefined;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const json = process.argv.includes('--json');
    const message = err instanceof Error ? err.message : String(err);
    if (json) console.log(JSON.stringify({ error: message }));
    else console.error(`weightmark: ${message}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);

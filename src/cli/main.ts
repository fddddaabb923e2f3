#!/usr/bin/env node

const usage = `weightmark — prove ownership of neural networks

Local commands (no server needed):
  weightmark train     --arch lenet5 --dataset mnist --strategy naive|delve|none --epochs 4 --out DIR [--limit N] [--embed-at F] [--key-seed S] [--key-image PNG | --key-message TEXT] [--json]
                       (a committed key by default: commitment.json is written before training, the key drawn from it part-way)
  weightmark extract   --model FILE_OR_DIR --key FILE [--commitment FILE] [--reference DIR] [--image OUT.png] [--json]
  weightmark finetune  --model DIR --epochs 1 --lr 0.01 --out DIR [--dataset mnist] [--json]
  weightmark export    --model FILE_OR_DIR --format onnx|safetensors|tfjs|npz --out PATH
  weightmark attack    --model FILE_OR_DIR --key FILE (--attack NAME | --chain "low-rank:15,fine-tune:1") [--options k=v] (--strength X | --sweep [X,Y,Z]) [--out DIR] (--list: the attacks)
  weightmark prepare-data --dataset cifar10 [--archive FILE.tar.gz] [--cache-dir DIR]   decode a dataset archive into the cache once

Service:
  weightmark serve                         start the HTTP service (same as npm start)
  weightmark token --role R --sub S --ttl T   mint a token from the local signing key
  weightmark <api command> --help          talk to a running server (see README): verify, audit-head, audit-verify, …

Every command takes --json for machine-readable output.`;

type Handler = (argv: string[]) => Promise<number>;

// Loaded on use: the training and format modules take about a second to import, which `--help`, `token`
// and every API command would otherwise pay.
const local: Record<string, () => Promise<Handler>> = {
  train: async () => (await import('./localCommands.js')).runTrain,
  extract: async () => (await import('./localCommands.js')).runExtract,
  finetune: async () => (await import('./localCommands.js')).runFinetune,
  export: async () => (await import('./localCommands.js')).runExport,
  attack: async () => (await import('./attackCommand.js')).runAttack,
  'prepare-data': async () => (await import('./prepareData.js')).runPrepareData,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    console.log(usage);
    return command ? 0 : 2;
  }
  const load = local[command];
  if (load) return (await load())(rest);
  const service = await import('./serviceCommands.js');
  return service.runServiceCommand(command, rest, usage);
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
    process.exitCode = 1;
  },
);

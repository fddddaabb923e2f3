/**
 * `weightmark <command>` for each API operation, talking to a running server.
 * Common flags: --url (or WEIGHTMARK_URL, default http://127.0.0.1:8080), --token (or WEIGHTMARK_TOKEN),
 * --json (print the response body as JSON), --quiet (print only the id of what the command made or
 * showed, for scripts: `MODEL=$(weightmark api train … --wait --quiet)`). Exit codes: 0 ok, 1 the
 * server refused (its problem is printed), 2 usage.
 */
import { UsageError } from './args.js';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProgressBar, formatDuration } from './progress.js';
import { describeFields, describeJob, describeList, describeRelease, describeVerification, idMadeBy } from './clientOutput.js';

type Opt = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };
type Values = Record<string, string | boolean | string[] | undefined>;
type Json = Record<string, unknown>;

interface Command {
  summary: string;
  usage: string;
  options?: Record<string, Opt>;
  positional?: string;
  /** The positional may be left out (then `arg` is undefined); later positionals come as `rest`. */
  positionalOptional?: boolean;
  run(c: Client, v: Values, arg: string | undefined, rest: string[]): Promise<unknown>;
  /** What --quiet prints: the id of what the command made or showed. Commands without it refuse --quiet. */
  idOf?: (result: Json) => unknown;
  /** The human output, when the generic `key: value` lines would bury the point. */
  describe?: (result: Json) => string;
}

const ownId = (r: Json): unknown => r.id;


export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Record<string, unknown>) {
    super(`${status} ${String(problem.code ?? '')}: ${String(problem.detail ?? problem.title ?? 'request failed')}`);
  }
}

export class Client {
  constructor(readonly url: string, readonly token: string | undefined) {}

  async request(method: string, p: string, o: { query?: Record<string, unknown>; json?: unknown; form?: FormData; raw?: boolean } = {}): Promise<Response> {
    const u = new URL(p, this.url);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined && v !== false) u.searchParams.set(k, String(v));
    const headers: Record<string, string> = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let body: BodyInit | undefined;
    if (o.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.form) body = o.form;
    const res = await fetch(u, { method, headers, ...(body !== undefined ? { body } : {}) });
    if (!res.ok) {
      const text = await res.text();
      let problem: Record<string, unknown>;
      try {
        problem = JSON.parse(text) as Record<string, unknown>;
      } catch {
        problem = { detail: text.slice(0, 300) };
      }
      throw new ApiError(res.status, problem);
    }
    return res;
  }

  async json(method: string, p: string, o: Parameters<Client['request']>[2] = {}): Promise<Record<string, unknown>> {
    return (await (await this.request(method, p, o)).json()) as Record<string, unknown>;
  }

  /** Follows a job's event stream until it ends, drawing a progress bar on stderr. */
  async watch(jobId: string, quiet: boolean): Promise<Record<string, unknown>> {
    const res = await this.request('GET', `/v1/jobs/${jobId}/events`);
    const bar = quiet ? undefined : new ProgressBar(process.stderr, 5);
    const decoder = new TextDecoder();
    let buf = '';
    let last: Record<string, unknown> = {};
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || !data) continue;
        const d = JSON.parse(data) as Record<string, unknown>;
        if (event === 'progress') {
          const f = Number(d.fraction ?? 0);
          const text = [d.phase, d.epoch !== undefined ? `epoch ${d.epoch}/${d.epochs}` : '', d.loss !== undefined ? `loss ${Number(d.loss).toFixed(3)}` : '', d.accuracy !== undefined ? `acc ${(Number(d.accuracy) * 100).toFixed(1)}%` : '', d.etaSec !== undefined ? `eta ${formatDuration(Number(d.etaSec))}` : ''].filter(Boolean).join('  ');
          bar?.update(f, text);
        } else last = d;
      }
    }
    bar?.done(`job ${jobId} ${String(last.status ?? '?')}`);
    // A followed job that did not succeed makes the command fail (exit 1), whatever it prints.
    if (last.status !== 'succeeded') this.unsuccessful = `job ${jobId} ended ${String(last.status ?? 'without a final status')}${last.error ? `: ${String(last.error)}` : ''}`;
    return last;
  }

  /** Set when a job this client followed did not succeed. */
  unsuccessful: string | undefined;
}

const page: Record<string, Opt> = { limit: { type: 'string' }, offset: { type: 'string' } };
const files = (v: Values, name = 'file'): string[] => {
  const f = v[name];
  const list = Array.isArray(f) ? f : typeof f === 'string' ? [f] : [];
  if (list.length === 0) throw new UsageError(`--${name} is required`);
  return list;
};
const need = (v: Values, name: string): string => {
  const x = v[name];
  if (typeof x !== 'string' || !x) throw new UsageError(`--${name} is required`);
  return x;
};
const num = (v: Values, name: string): number | undefined => (typeof v[name] === 'string' ? Number(v[name]) : undefined);

async function attach(form: FormData, field: string, file: string): Promise<void> {
  const bytes = fs.readFileSync(file);
  form.append(field, new Blob([bytes]), path.basename(file));
}

async function saveBody(res: Response, out: string): Promise<{ file: string; bytes: number }> {
  const b = Buffer.from(await res.arrayBuffer());
  fs.writeFileSync(out, b);
  return { file: out, bytes: b.length };
}

const commands: Record<string, Command> = {
  health: { summary: 'readiness of the server', usage: 'health', run: (c) => c.json('GET', '/readyz') },
  jwks: { summary: 'the public signing keys', usage: 'jwks', run: (c) => c.json('GET', '/.well-known/jwks.json') },
  models: { summary: 'list models', usage: 'models [--limit N] [--offset N]', options: page, run: (c, v) => c.json('GET', '/v1/models', { query: { limit: v.limit, offset: v.offset } }) },
  model: { summary: 'show one model', usage: 'model ID', positional: 'id', idOf: ownId, run: (c, _v, id) => c.json('GET', `/v1/models/${id}`) },
  register: {
    summary: 'register a model by upload (optionally with its key)',
    usage: 'register --file F [--file F2 …] [--key KEY.json] [--name N] [--arch lenet5]',
    options: { file: { type: 'string', multiple: true }, key: { type: 'string' }, name: { type: 'string' }, arch: { type: 'string' } },
    idOf: ownId,
    async run(c, v) {
      const form = new FormData();
      for (const f of files(v)) await attach(form, 'file', f);
      if (typeof v.key === 'string') await attach(form, 'key', v.key);
      if (typeof v.name === 'string') form.append('name', v.name);
      if (typeof v.arch === 'string') form.append('arch', v.arch);
      return c.json('POST', '/v1/models', { form });
    },
  },
  datasets: {
    summary: 'list uploaded datasets; `datasets upload FILE [LABELS]` uploads one (zip, npz, or IDX images + labels); `datasets show ID`',
    usage: 'datasets [--limit N] | datasets upload FILE [LABELS-FILE] [--name N] [--holdout 0.1] | datasets show ID',
    positional: 'action',
    positionalOptional: true,
    options: { ...page, name: { type: 'string' }, holdout: { type: 'string' } },
    idOf: ownId,
    async run(c, v, action, rest) {
      if (action === undefined) return c.json('GET', '/v1/datasets', { query: { limit: v.limit, offset: v.offset } });
      if (action === 'show' && rest.length === 1) return c.json('GET', `/v1/datasets/${rest[0]}`);
      if (action === 'upload' && (rest.length === 1 || rest.length === 2)) {
        const form = new FormData();
        for (const f of rest) await attach(form, 'file', f);
        if (typeof v.name === 'string') form.append('name', v.name);
        if (typeof v.holdout === 'string') form.append('holdout', v.holdout);
        return c.json('POST', '/v1/datasets', { form });
      }
      throw new UsageError(`'datasets ${[action, ...rest].join(' ')}': expected no action, 'upload FILE [LABELS-FILE]' or 'show ID'`);
    },
  },
  train: {
    summary: 'start a training job (--wait follows it)',
    usage: 'api train --arch lenet5 --epochs 5 [--dataset mnist|fashion-mnist|cifar10 (default: the one the architecture fits) | --dataset-id ID (an uploaded dataset)] [--strategy delve|naive|none] [--limit N] [--lr X] [--batch-size N] [--seed N] [--name N] [--wait]',
    options: {
      arch: { type: 'string' }, epochs: { type: 'string' }, dataset: { type: 'string' }, 'dataset-id': { type: 'string' }, strategy: { type: 'string' }, limit: { type: 'string' }, lr: { type: 'string' },
      'batch-size': { type: 'string' }, seed: { type: 'string' }, name: { type: 'string' }, wait: { type: 'boolean' },
    },
    idOf: idMadeBy,
    describe: describeJob,
    async run(c, v) {
      const body = {
        arch: need(v, 'arch'), epochs: num(v, 'epochs') ?? 1, ...(v.dataset ? { dataset: v.dataset } : {}), ...(v['dataset-id'] ? { datasetId: v['dataset-id'] } : {}), ...(v.strategy ? { strategy: v.strategy } : {}),
        ...(v.limit ? { limit: num(v, 'limit') } : {}), ...(v.lr ? { lr: num(v, 'lr') } : {}), ...(v['batch-size'] ? { batchSize: num(v, 'batch-size') } : {}),
        ...(v.seed ? { seed: num(v, 'seed') } : {}), ...(v.name ? { name: v.name } : {}),
      };
      const job = await c.json('POST', '/v1/models/train', { json: body });
      return v.wait ? c.watch(String(job.id), silent(v)) : job;
    },
  },
  watermark: {
    summary: 'lock a fresh committed key into an uploaded model trained elsewhere, by a short fine-tune (a job; --wait follows it)',
    usage: 'api watermark --model ID [--dataset mnist|fashion-mnist|cifar10 | --dataset-id ds_…] [--strategy naive|delve] [--epochs N] [--lr X] [--limit N] [--name NAME] [--wait]',
    options: {
      model: { type: 'string' }, dataset: { type: 'string' }, 'dataset-id': { type: 'string' }, strategy: { type: 'string' }, epochs: { type: 'string' }, lr: { type: 'string' },
      limit: { type: 'string' }, seed: { type: 'string' }, name: { type: 'string' }, wait: { type: 'boolean' },
    },
    idOf: idMadeBy,
    describe: describeJob,
    async run(c, v) {
      const body = {
        ...(v.dataset ? { dataset: v.dataset } : {}), ...(v['dataset-id'] ? { datasetId: v['dataset-id'] } : {}), ...(v.strategy ? { strategy: v.strategy } : {}),
        ...(v.epochs ? { epochs: num(v, 'epochs') } : {}), ...(v.lr ? { lr: num(v, 'lr') } : {}), ...(v.limit ? { limit: num(v, 'limit') } : {}), ...(v.seed ? { seed: num(v, 'seed') } : {}), ...(v.name ? { name: v.name } : {}),
      };
      const job = await c.json('POST', `/v1/models/${need(v, 'model')}/watermark`, { json: body });
      return v.wait ? c.watch(String(job.id), silent(v)) : job;
    },
  },
  attacks: {
    summary: 'the attacks the service can sweep, with their strengths',
    usage: 'attacks',
    run: (c) => c.json('GET', '/v1/attacks'),
    describe: (r) => ((r.items ?? []) as Json[]).map((a) => { const st = a.strength as Json; return `${String(a.name)}  ${String(a.title)}; ${String(st.name)}: ${(st.defaults as number[]).join(', ')}${a.needsData ? '; trains on the model\'s data' : ''}`; }).join('\n'),
  },
  attack: {
    summary: 'sweep an attack, or a chain of attacks, on a model (a job; --wait follows it and prints the sweep)',
    usage: 'api attack --model ID (--attack quantize|prune|noise|permute|fine-tune|low-rank|reinit-head|… | --chain "low-rank:15,fine-tune:1") [--options k=v …] [--strengths 8,4,2 | --quick] [--test-limit N] [--wait]',
    options: {
      model: { type: 'string' }, attack: { type: 'string' }, chain: { type: 'string' }, options: { type: 'string', multiple: true }, strengths: { type: 'string' },
      quick: { type: 'boolean' }, 'test-limit': { type: 'string' }, wait: { type: 'boolean' },
    },
    idOf: ownId,
    describe: describeJob,
    async run(c, v) {
      // The same step syntax as the local `weightmark attack --chain`; the service checks it again.
      // Imported here: the attack registry behind it would slow every other command's start.
      const { parseChainText, parseOptionsText } = await import('../attacks/chainSpec.js');
      const options = Array.isArray(v.options) && v.options.length ? Object.assign({}, ...v.options.map((o) => parseOptionsText(String(o)))) : undefined;
      const body = {
        ...(typeof v.chain === 'string' ? { chain: parseChainText(v.chain) } : { attack: need(v, 'attack') }),
        ...(options ? { options } : {}),
        ...(typeof v.strengths === 'string' ? { strengths: v.strengths.split(',').map(Number) } : {}),
        ...(v.quick ? { quick: true } : {}),
        ...(v['test-limit'] ? { testLimit: num(v, 'test-limit') } : {}),
      };
      const job = await c.json('POST', `/v1/models/${need(v, 'model')}/attacks`, { json: body });
      if (!v.wait) return job;
      await c.watch(String(job.id), silent(v));
      return c.json('GET', `/v1/jobs/${job.id}`);
    },
  },
  jobs: { summary: 'list jobs', usage: 'jobs [--status running] [--limit N]', options: { ...page, status: { type: 'string' } }, run: (c, v) => c.json('GET', '/v1/jobs', { query: { limit: v.limit, offset: v.offset, status: v.status } }) },
  job: { summary: 'show a job', usage: 'job ID', positional: 'id', idOf: idMadeBy, describe: describeJob, run: (c, _v, id) => c.json('GET', `/v1/jobs/${id}`) },
  watch: { summary: "follow a job's progress until it ends", usage: 'watch ID', positional: 'id', idOf: idMadeBy, describe: describeJob, run: (c, v, id) => c.watch(id!, silent(v)) },
  cancel: { summary: 'cancel a job', usage: 'cancel ID', positional: 'id', idOf: ownId, describe: describeJob, run: (c, _v, id) => c.json('POST', `/v1/jobs/${id}/cancel`) },
  plot: {
    summary: "save the plot (SVG) of an attack job's sweep",
    usage: 'plot ID --out FILE.svg',
    positional: 'id',
    options: { out: { type: 'string' } },
    async run(c, v, id) {
      const out = need(v, 'out');
      return saveBody(await c.request('GET', `/v1/jobs/${id}/plot.svg`), out);
    },
  },
  release: {
    summary: 'issue a release of a model to a licensee (--wait follows the job)',
    usage: 'release --model ID --licensee NAME [--strategy naive|delve] [--epochs N] [--limit N] [--wait]',
    options: { model: { type: 'string' }, licensee: { type: 'string' }, strategy: { type: 'string' }, epochs: { type: 'string' }, limit: { type: 'string' }, wait: { type: 'boolean' } },
    idOf: (r) => (r.release as Json | undefined)?.id ?? r.id,
    describe: describeRelease,
    async run(c, v) {
      const body = { licensee: need(v, 'licensee'), ...(v.strategy ? { strategy: v.strategy } : {}), ...(v.epochs ? { epochs: num(v, 'epochs') } : {}), ...(v.limit ? { limit: num(v, 'limit') } : {}) };
      const out = await c.json('POST', `/v1/models/${need(v, 'model')}/releases`, { json: body });
      if (!v.wait) return out;
      const job = out.job as { id: string };
      await c.watch(job.id, silent(v));
      return c.json('GET', `/v1/releases/${(out.release as { id: string }).id}`);
    },
  },
  releases: { summary: 'list releases', usage: 'releases [--model ID] [--licensee NAME]', options: { ...page, model: { type: 'string' }, licensee: { type: 'string' } }, run: (c, v) => c.json('GET', '/v1/releases', { query: { limit: v.limit, offset: v.offset, modelId: v.model, licensee: v.licensee } }) },
  'release-info': { summary: 'show a release', usage: 'release-info ID', positional: 'id', idOf: ownId, describe: describeRelease, run: (c, _v, id) => c.json('GET', `/v1/releases/${id}`) },
  download: {
    summary: 'download a release (onnx/safetensors/pt: one file + OUT.manifest.jws; tfjs: a zip with manifest.jws inside)',
    usage: 'download ID --format onnx|onnx-nhwc|tfjs|safetensors|pt --out PATH',
    positional: 'id',
    options: { format: { type: 'string' }, out: { type: 'string' } },
    async run(c, v, id) {
      const format = typeof v.format === 'string' ? v.format : 'onnx';
      const res = await c.request('GET', `/v1/releases/${id}/download`, { query: { format } });
      const manifest = res.headers.get('weightmark-manifest') ?? '';
      const saved = await saveBody(res, need(v, 'out'));
      if (format !== 'tfjs') fs.writeFileSync(`${saved.file}.manifest.jws`, manifest + '\n');
      return { ...saved, format, manifest: format === 'tfjs' ? 'manifest.jws (inside the zip)' : `${saved.file}.manifest.jws` };
    },
  },
  manifest: {
    summary: "print a release's signed manifest (JWS)",
    usage: 'manifest ID [--format onnx]',
    positional: 'id',
    options: { format: { type: 'string' } },
    describe: (r) => String(r.jws),
    run: async (c, v, id) => ({ jws: await (await c.request('GET', `/v1/releases/${id}/manifest.jws`, { query: { format: v.format ?? 'onnx' } })).text() }),
  },
  verify: {
    summary: 'verify a suspect model',
    usage: 'verify --file F [--file F2 …] [--model ID | --licensee NAME]',
    options: { file: { type: 'string', multiple: true }, model: { type: 'string' }, licensee: { type: 'string' } },
    idOf: ownId,
    describe: describeVerification,
    async run(c, v) {
      const form = new FormData();
      for (const f of files(v)) await attach(form, 'file', f);
      if (typeof v.model === 'string') form.append('modelId', v.model);
      if (typeof v.licensee === 'string') form.append('licensee', v.licensee);
      return c.json('POST', '/v1/verifications', { form });
    },
  },
  verifications: { summary: 'list verifications', usage: 'verifications [--limit N]', options: page, run: (c, v) => c.json('GET', '/v1/verifications', { query: { limit: v.limit, offset: v.offset } }) },
  verification: { summary: 'show a verification', usage: 'verification ID', positional: 'id', idOf: ownId, describe: describeVerification, run: (c, _v, id) => c.json('GET', `/v1/verifications/${id}`) },
  report: {
    summary: 'save the signed report (JWS) of a verification',
    usage: 'report ID [--out FILE]',
    positional: 'id',
    options: { out: { type: 'string' } },
    // Without --out the JWS itself is the output (to pipe or redirect); with it, where it went.
    describe: (r) => (r.file ? `${String(r.file)}: signed JWS, ${String(r.jws).length} characters` : String(r.jws)),
    async run(c, v, id) {
      const jws = await (await c.request('GET', `/v1/verifications/${id}/report.jws`)).text();
      if (typeof v.out === 'string') fs.writeFileSync(v.out, jws + '\n');
      return { jws, ...(typeof v.out === 'string' ? { file: v.out } : {}) };
    },
  },
  audit: {
    summary: 'read the audit log',
    usage: 'audit [--actor S] [--action A] [--since ISO] [--after SEQ] [--limit N]',
    options: { actor: { type: 'string' }, action: { type: 'string' }, since: { type: 'string' }, after: { type: 'string' }, limit: { type: 'string' } },
    run: (c, v) => c.json('GET', '/v1/audit/events', { query: { actor: v.actor, action: v.action, since: v.since, after: v.after, limit: v.limit } }),
  },
  'audit-verify': {
    summary: 'recompute the audit hash chain against the latest signed head (and a head you kept)',
    usage: 'audit-verify [--seq N --hash HEX]',
    options: { seq: { type: 'string' }, hash: { type: 'string' } },
    run: (c, v) => c.json('GET', '/v1/audit/verify', { query: { seq: v.seq, hash: v.hash } }),
  },
  'audit-head': {
    summary: "the audit chain's latest signed head (keep it: audit-verify --seq --hash detects truncation later)",
    usage: 'audit-head',
    run: (c) => c.json('GET', '/v1/audit/head'),
  },
  'export-key': {
    summary: "export a model's secret watermark key (admin)",
    usage: 'export-key ID --out KEY.json',
    positional: 'id',
    options: { out: { type: 'string' } },
    async run(c, v, id) {
      const out = await c.json('GET', `/v1/models/${id}/key`);
      const file = need(v, 'out');
      fs.writeFileSync(file, JSON.stringify(out.key) + '\n', { mode: 0o600 });
      return { keyId: out.keyId, file };
    },
  },
  'rotate-signing-key': { summary: 'rotate the signing key (admin)', usage: 'rotate-signing-key', run: (c) => c.json('POST', '/v1/signing-keys/rotate') },
  'mint-token': {
    summary: 'ask the server to mint a token (admin)',
    usage: 'mint-token --sub NAME --role ROLE [--ttl SECONDS]',
    options: { sub: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string' } },
    idOf: (r) => r.token,
    run: (c, v) => c.json('POST', '/v1/tokens', { json: { sub: need(v, 'sub'), role: need(v, 'role'), ...(v.ttl ? { ttlSec: num(v, 'ttl') } : {}) } }),
  },
};

/** The API commands (token included), for routing and suggestions. */
export const clientCommandNames = (): string[] => [...Object.keys(commands), 'token'];

const SHADOWED = ['train', 'attack', 'watermark'];

export function clientUsage(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length + (SHADOWED.includes(k) ? 4 : 0)));
  return [
    'API commands (talk to a running server; --url, --token or WEIGHTMARK_URL / WEIGHTMARK_TOKEN; --json prints the response, --quiet only the id of what was made):',
    // train, attack and watermark are also local commands, which win the plain name: `weightmark api train`.
    ...Object.entries(commands).map(([k, c]) => `  ${(SHADOWED.includes(k) ? `api ${k}` : k).padEnd(w)}  ${c.summary}`),
    `  ${'token'.padEnd(w)}  mint a token from the local signing key (no server needed)`,
  ].join('\n');
}

/** Prints a command's result: JSON, just its id (--quiet), its own summary, or generic lines. */
function print(cmd: Command, value: unknown, v: Values): void {
  if (v.json) return void console.log(JSON.stringify(value, null, 2));
  const r = (value ?? {}) as Json;
  if (v.quiet) return void console.log(String(cmd.idOf!(r) ?? ''));
  if (cmd.describe) return void console.log(cmd.describe(r));
  if (Array.isArray(r.items)) return void console.log(describeList(r as Json & { items: unknown[] }));
  console.log(typeof value === 'object' && value !== null ? describeFields(r) : String(value));
}

/** No progress bar when the output is for a program (--json) or a variable (--quiet). */
const silent = (v: Values): boolean => Boolean(v.json || v.quiet);

/** Runs one API command. Returns the exit code (2: unknown command or bad usage). */
export async function runClient(command: string, argv: string[]): Promise<number> {
  if (command === 'token') return (await import('./server.js')).runToken(argv);
  const cmd = commands[command];
  if (!cmd) {
    console.error(`weightmark: unknown command '${command}'\n${clientUsage()}`);
    return 2;
  }
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...(cmd.options ?? {}), url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' },
        ...(cmd.idOf ? { quiet: { type: 'boolean', short: 'q' } } : {}),
      },
      allowPositionals: Boolean(cmd.positional),
      strict: true,
    }) as { values: Values; positionals: string[] };
  } catch (e) {
    console.error(`weightmark ${command}: ${(e as Error).message}\nusage: weightmark ${cmd.usage}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(`usage: weightmark ${cmd.usage}${cmd.idOf ? ' [--quiet]' : ''}\n  ${cmd.summary}`);
    return 0;
  }
  const arg = parsed.positionals[0];
  if (cmd.positional && !arg && !cmd.positionalOptional) {
    console.error(`usage: weightmark ${cmd.usage}`);
    return 2;
  }
  const url = (typeof v.url === 'string' && v.url) || process.env.WEIGHTMARK_URL || 'http://127.0.0.1:8080';
  const token = (typeof v.token === 'string' && v.token) || process.env.WEIGHTMARK_TOKEN || undefined;
  const client = new Client(url, token);
  try {
    print(cmd, await cmd.run(client, v, arg, parsed.positionals.slice(1)), v);
    if (client.unsuccessful) {
      console.error(`weightmark ${command}: ${client.unsuccessful}`);
      return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`weightmark ${command}: ${e.message}\nusage: weightmark ${cmd.usage}`);
      return 2;
    }
    if (e instanceof ApiError) {
      if (v.json) console.log(JSON.stringify({ error: e.problem, status: e.status }, null, 2));
      else console.error(`weightmark ${command}: ${e.message}`);
      return 1;
    }
    if (e instanceof TypeError && e.message === 'fetch failed') {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      console.error(`weightmark ${command}: no server reachable at ${url} (${cause?.code ?? cause?.message ?? 'connection failed'}); start one with 'weightmark serve' or pass --url`);
      return 1;
    }
    throw e;
  }
}

/**
 * Composition root: builds the service (config → keys → store → engines → jobs → app) and runs it.
 * `startWebServer()` / `stopWebServer()` are what tests use (port 0, a temp data dir).
 */
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type ServiceConfig } from '../config/env.js';
import { loadOrCreateMasterKey, Keystore } from '../crypto/keystore.js';
import { SigningKeys } from '../crypto/signing.js';
import { auditHeadSigner } from '../crypto/auditHead.js';
import { makePrivate, privatePaths } from '../crypto/fileModes.js';
import { openStore, type ServiceStore } from '../store/open.js';
import { openBlobStore, type BlobStore } from '../store/blobs.js';
import type { JobQueue } from '../jobs/queue.js';
import type { CheckpointMirror } from '../jobs/checkpointMirror.js';
import type { TicketBook } from './eventTickets.js';
import type { RateCounter } from './middleware.js';
import { lockDataDir } from '../store/dataDirLock.js';
import { assertSharedSecrets } from '../service/sharedSecrets.js';
import { JobRunner } from '../jobs/runner.js';
import { ChildProcessExecutor } from '../jobs/childExecutor.js';
import { createLogger, type Logger } from '../service/logger.js';
import { Metrics } from '../service/metrics.js';
import { Lru, type ServiceContext } from '../service/context.js';
import { VerifyGate } from '../service/verifyGate.js';
import type { Engines, TaskExecutor } from '../service/ports.js';
import { loadProductionEngines } from '../service/engines.js';
import { trainingHandler } from '../service/training.js';
import { releaseHandler } from '../service/releases.js';
import { attackHandler } from '../service/attacks.js';
import { createApp } from './app.js';
import { cleanUploadDir } from './uploads.js';
import { answerClientErrors } from './clientErrors.js';

export interface ServiceOverrides {
  config?: Partial<ServiceConfig>;
  env?: NodeJS.ProcessEnv;
  engines?: Engines;
  executor?: TaskExecutor;
  /** Where log lines go (default stdout). */
  logSink?: (line: string) => void;
  /** 'worker': `weightmark worker`, which runs jobs from the shared queue and serves no HTTP. */
  role?: 'api' | 'worker';
}

export interface Service {
  readonly ctx: ServiceContext;
  readonly store: ServiceStore;
  ready: boolean;
  /** Removes the data-dir lock (at stop). */
  releaseLock(): void;
  /** PostgreSQL mode: the shared job queue (closed after the jobs stop), event tickets and rate limit. */
  shared?: Shared;
}

interface Shared {
  queue: JobQueue;
  checkpoints: CheckpointMirror;
  tickets: TicketBook;
  rateCounter: RateCounter;
}

/** Builds the service on its data and keys dirs; recovers interrupted jobs and cleans temp files. */
export async function createService(o: ServiceOverrides = {}): Promise<Service> {
  const config = loadConfig(o.env ?? process.env, o.config ?? {});
  const logger: Logger = createLogger(config.logLevel, o.logSink);
  const dbFile = path.join(config.dataDir, 'weightmark.db');
  const blobDir = path.join(config.dataDir, 'models');
  // before anything is read or written: the data and keys dirs are the owner's alone
  const modes = makePrivate(privatePaths({ dataDir: config.dataDir, dbFile, blobDir, keysDir: config.keysDir }));
  for (const c of modes.changed) logger.warn('tightened file mode', { path: c.path, from: c.from, to: c.to });
  for (const f of modes.failed) logger.error('could not tighten file mode; fix it by hand (chmod go-rwx)', { path: f.path, error: f.error });
  const releaseLock = lockDataDir(config.dataDir);
  const masterKey = loadOrCreateMasterKey(config.keysDir, config.masterKey);
  const signing = SigningKeys.loadOrCreate(config.keysDir);
  const store = await openStore({ databaseUrl: config.databaseUrl, sqliteFile: dbFile, signHead: auditHeadSigner(signing, config.issuer) });
  const blobs = await openBlobStore({ dir: blobDir, ...(config.s3 ? { s3: config.s3 } : {}) }).catch(async (e: unknown) => {
    await store.close();
    releaseLock();
    throw e;
  });
  const keystore = new Keystore(masterKey);
  if (config.databaseUrl) {
    await assertSharedSecrets(store, signing, keystore, config.keysDir).catch(async (e: unknown) => {
      await blobs.close();
      await store.close();
      releaseLock();
      throw e;
    });
  }
  const removed = (await blobs.removeLeftovers()) + cleanUploadDir(config);
  const metrics = new Metrics();
  const engines = o.engines ?? (await loadProductionEngines({ verifyWorkers: config.verifyWorkers }));
  const executor = o.executor ?? new ChildProcessExecutor();
  const ctxBase = {
    config, store, blobs, keystore, signing, engines, executor, logger, metrics,
    verifyGate: new VerifyGate({ maxBytes: config.verifyMaxBytes, maxInFlight: config.verifyMaxInFlight, maxPerSubject: config.verifyMaxPerSubject }),
    cache: { params: new Lru<import('../core/paramSet.js').ParamSet>(8), keys: new Lru<import('../core/watermarkKey.js').WatermarkKey>(256), datasets: new Lru<import('../data/imageSet.js').ImageSet>(2) },
  };
  const ctx = ctxBase as unknown as ServiceContext;
  const shared = config.databaseUrl ? await openSharedJobs(config.databaseUrl, store, blobs, logger) : undefined;
  if (shared) (ctx as { checkpoints: CheckpointMirror }).checkpoints = shared.checkpoints;
  if (shared && blobs.engine === 'files') logger.warn('jobs are shared through PostgreSQL but model files are on this machine: other replicas and workers cannot read them; set WEIGHTMARK_S3_BUCKET');
  (ctx as { jobs: JobRunner }).jobs = new JobRunner({
    store, logger, concurrency: config.jobConcurrency,
    handlers: { train: trainingHandler(ctx), release: releaseHandler(ctx), attack: attackHandler(ctx) },
    ...(shared ? { queue: shared.queue, runsJobs: o.role === 'worker' || config.runJobs } : {}),
  });
  metrics.gauge('weightmark_jobs_queued', 'Jobs waiting to run', () => ctx.jobs.queued);
  metrics.gauge('weightmark_jobs_running', 'Jobs running', () => ctx.jobs.running);
  metrics.gauge('process_resident_memory_bytes', 'Resident memory of the service process', () => process.memoryUsage().rss);
  metrics.gauge('weightmark_verify_bytes_in_flight', 'Bytes of suspects under verification', () => ctx.verifyGate.bytes);
  metrics.gauge('weightmark_signing_keys', 'Signing keys in the JWKS', () => signing.jwks().keys.length);
  const rec = await ctx.jobs.recover();
  logger.info('service started', {
    dataDir: config.dataDir, keysDir: config.keysDir, store: store.engine, blobs: blobs.engine, schemaVersion: store.schemaVersion(), kid: signing.activeKid,
    interruptedJobs: rec.interrupted.length, requeuedJobs: rec.requeued.length, tempFilesRemoved: removed,
  });
  return { ctx, store, ready: true, releaseLock, ...(shared ? { shared } : {}) };
}

/** PostgreSQL mode: the job queue and the checkpoint mirror (modules loaded only then). */
async function openSharedJobs(url: string, store: ServiceStore, blobs: BlobStore, logger: Logger): Promise<Shared> {
  const [{ PgJobQueue }, { CheckpointMirror }, { PgEventTickets }, { pgRateCounter }] = await Promise.all([
    import('../jobs/pgQueue.js'), import('../jobs/checkpointMirror.js'), import('./pgEventTickets.js'), import('./pgRateLimit.js'),
  ]);
  const pool = (store as ServiceStore & { pool: import('pg').Pool }).pool;
  return { queue: await PgJobQueue.open(url, logger), checkpoints: new CheckpointMirror(pool, blobs), tickets: new PgEventTickets(pool), rateCounter: pgRateCounter(pool) };
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly service: Service;
  readonly server: http.Server;
  stop(): Promise<void>;
}

let current: RunningServer | undefined;

/** Starts the service and listens (port 0 picks a free port). */
export async function startWebServer(o: ServiceOverrides = {}): Promise<RunningServer> {
  const service = await createService(o);
  const { ctx } = service;
  const app = createApp(ctx, { ready: () => service.ready, ...(service.shared ? { tickets: service.shared.tickets, rateCounter: service.shared.rateCounter } : {}) });
  const server = http.createServer(app);
  answerClientErrors(server, ctx.logger, ctx.metrics);
  server.requestTimeout = 15 * 60_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(ctx.config.port, ctx.config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = ctx.config.host === '0.0.0.0' || ctx.config.host === '::' ? '127.0.0.1' : ctx.config.host;
  ctx.logger.info('listening', { port, host: ctx.config.host });
  let stopping: Promise<void> | undefined;
  const running: RunningServer = {
    url: `http://${host}:${port}`,
    port,
    service,
    server,
    stop: () => (stopping ??= shutdown(service, server)),
  };
  current = running;
  return running;
}

/**
 * Graceful stop: not ready (load balancers drain), no new connections, in-flight requests finish
 * (up to the grace period), running jobs are stopped and marked failed (interrupted), store closed.
 */
async function shutdown(service: Service, server: http.Server): Promise<void> {
  const { ctx } = service;
  service.ready = false;
  ctx.logger.info('shutting down');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const grace = new Promise<void>((resolve) => setTimeout(resolve, ctx.config.shutdownGraceSec * 1000).unref());
  await Promise.race([closed, grace]);
  server.closeAllConnections();
  await closeService(service);
}

/** Running jobs stopped (left to the next start or attempt), then the queue, engines, store and blobs closed. */
async function closeService(service: Service): Promise<void> {
  const { ctx } = service;
  await ctx.jobs.stop();
  await service.shared?.queue.close();
  await ctx.executor.close();
  await ctx.engines.close?.();
  await ctx.store.close();
  await ctx.blobs.close();
  service.releaseLock();
  ctx.logger.info('stopped');
}

export interface RunningWorker {
  readonly service: Service;
  stop(): Promise<void>;
}

/**
 * `weightmark worker`: the service without HTTP, taking jobs from the queue in PostgreSQL.
 * @throws Error when no database is configured (there is no queue to take jobs from).
 */
export async function startWorker(o: ServiceOverrides = {}): Promise<RunningWorker> {
  const config = loadConfig(o.env ?? process.env, o.config ?? {});
  if (!config.databaseUrl) throw new Error('weightmark worker takes jobs from the queue in PostgreSQL: set WEIGHTMARK_DATABASE_URL (and WEIGHTMARK_S3_BUCKET for model files)');
  // a worker verifies nothing: no alignment threads
  const service = await createService({ ...o, role: 'worker', config: { ...o.config, verifyWorkers: 0 } });
  service.ctx.logger.info('worker taking jobs', { concurrency: service.ctx.config.jobConcurrency });
  let stopping: Promise<void> | undefined;
  return { service, stop: () => (stopping ??= closeService(service)) };
}

export async function stopWebServer(s: RunningServer | undefined = current): Promise<void> {
  if (!s) return;
  await s.stop();
  if (current === s) current = undefined;
}

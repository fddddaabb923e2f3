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
import { openBlobStore } from '../store/blobs.js';
import { lockDataDir } from '../store/dataDirLock.js';
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
}

export interface Service {
  readonly ctx: ServiceContext;
  readonly store: ServiceStore;
  ready: boolean;
  /** Removes the data-dir lock (at stop). */
  releaseLock(): void;
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
  const removed = (await blobs.removeLeftovers()) + cleanUploadDir(config);
  const metrics = new Metrics();
  const engines = o.engines ?? (await loadProductionEngines({ verifyWorkers: config.verifyWorkers }));
  const executor = o.executor ?? new ChildProcessExecutor();
  const ctxBase = {
    config, store, blobs, keystore: new Keystore(masterKey), signing, engines, executor, logger, metrics,
    verifyGate: new VerifyGate({ maxBytes: config.verifyMaxBytes, maxInFlight: config.verifyMaxInFlight, maxPerSubject: config.verifyMaxPerSubject }),
    cache: { params: new Lru<import('../core/paramSet.js').ParamSet>(8), keys: new Lru<import('../core/watermarkKey.js').WatermarkKey>(256) },
  };
  const ctx = ctxBase as unknown as ServiceContext;
  (ctx as { jobs: JobRunner }).jobs = new JobRunner({
    store, logger, concurrency: config.jobConcurrency,
    handlers: { train: trainingHandler(ctx), release: releaseHandler(ctx), attack: attackHandler(ctx) },
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
  return { ctx, store, ready: true, releaseLock };
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
  const app = createApp(ctx, { ready: () => service.ready });
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
  await ctx.jobs.stop();
  await ctx.executor.close();
  await ctx.engines.close?.();
  await ctx.store.close();
  await ctx.blobs.close();
  service.releaseLock();
  ctx.logger.info('stopped');
}

export async function stopWebServer(s: RunningServer | undefined = current): Promise<void> {
  if (!s) return;
  await s.stop();
  if (current === s) current = undefined;
}

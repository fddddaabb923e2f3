/**
 * The service's configuration, read once from environment variables with safe defaults.
 * Every variable is listed in docs/configuration.md; keep the two in step.
 */
import os from 'node:os';
import path from 'node:path';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface ServiceConfig {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly keysDir: string;
  /** 32 bytes from WEIGHTMARK_MASTER_KEY; absent → <keysDir>/master.key (created 0600 on first start). */
  readonly masterKey?: Buffer;
  readonly issuer: string;
  readonly audience: string;
  /** Default lifetime of tokens minted by `weightmark token` / POST /v1/tokens. */
  readonly tokenTtlSec: number;
  /** Upper bound on any token's lifetime the service will mint. */
  readonly tokenMaxTtlSec: number;
  readonly jsonBodyLimitBytes: number;
  readonly uploadMaxFileBytes: number;
  readonly uploadMaxFiles: number;
  /** Samples an uploaded dataset may hold (WEIGHTMARK_DATASET_MAX_SAMPLES). */
  readonly datasetMaxSamples: number;
  /** Bytes an uploaded dataset's images may take decoded, n × h × w × c (WEIGHTMARK_DATASET_MAX_BYTES). */
  readonly datasetMaxBytes: number;
  /** Requests per minute per token (per IP for anonymous requests); 0 disables. */
  readonly rateLimitPerMin: number;
  readonly logLevel: LogLevel;
  /** Long jobs (training, releases) run at once; training is CPU-bound, so 1 by default. */
  readonly jobConcurrency: number;
  /** Worker threads that align suspects during verification (0: on the request thread). */
  readonly verifyWorkers: number;
  /** Bytes of uploaded suspects under verification at once (each is held in memory while verified); beyond it 503. */
  readonly verifyMaxBytes: number;
  /** Verifications in flight at once (the queue bound); beyond it 503. */
  readonly verifyMaxInFlight: number;
  /** Verifications one subject may have in flight at once; beyond it 429. */
  readonly verifyMaxPerSubject: number;
  /** Verifications per subject per UTC day, kept in the database (0: no quota; admins are exempt). */
  readonly verifyQuotaPerDay: number;
  /** Seconds graceful shutdown waits for in-flight requests before closing anyway. */
  readonly shutdownGraceSec: number;
  /** False-positive rate at which a verification decides "match". */
  readonly fpr: number;
  readonly trustProxy: boolean;
  /** postgres://… from WEIGHTMARK_DATABASE_URL: the store on PostgreSQL; absent → SQLite in dataDir. May hold a password: never log it. */
  readonly databaseUrl?: string;
  /**
   * With the queue in PostgreSQL: whether this API process also takes jobs from it (WEIGHTMARK_RUN_JOBS,
   * default on, so one service on PostgreSQL still runs its jobs; turn it off on API replicas when
   * `weightmark worker` processes run them).
   */
  readonly runJobs: boolean;
  /** Model files in an S3-compatible bucket (WEIGHTMARK_S3_BUCKET); absent → files under dataDir/models. */
  readonly s3?: S3Settings;
}

/** Where model files go in S3 mode. Credentials are not here: the SDK reads the standard AWS variables and files. */
export interface S3Settings {
  readonly bucket: string;
  /** A non-AWS endpoint (MinIO, R2, Ceph RGW): WEIGHTMARK_S3_URL. */
  readonly endpoint?: string;
  readonly region: string;
  /** Key prefix inside the bucket, so one bucket can hold other things too. */
  readonly prefix: string;
  /** Bucket in the path, not the host name: what MinIO, Ceph RGW and test servers expect. */
  readonly forcePathStyle: boolean;
  /**
   * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) of the environment the service was
   * given; absent → the SDK's own chain (profiles, instance and pod roles). Secret: never log it.
   */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${name}='${raw}' is not an integer in [${min}, ${max}]`);
  }
  return v;
}

function num(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= min || v >= max) throw new ConfigError(`${name}='${raw}' must be a number in (${min}, ${max})`);
  return v;
}

/** Parses a 32-byte key given as 64 hex digits or base64. @throws ConfigError saying what was found. */
export function parseMasterKey(raw: string, source = 'WEIGHTMARK_MASTER_KEY'): Buffer {
  const s = raw.trim();
  let key: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(s)) key = Buffer.from(s, 'hex');
  else key = Buffer.from(s, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(`${source} must be 32 bytes as 64 hex digits or base64 (got ${key.length} bytes after decoding)`);
  }
  return key;
}

/** @throws ConfigError naming the scheme found, never the URL itself (it may carry a password). */
function databaseUrl(env: NodeJS.ProcessEnv): { databaseUrl?: string } {
  const raw = env.WEIGHTMARK_DATABASE_URL;
  if (raw === undefined || raw === '') return {};
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1];
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new ConfigError(`WEIGHTMARK_DATABASE_URL must be a postgres:// or postgresql:// URL (found ${scheme ? `scheme '${scheme}'` : 'no scheme'})`);
  }
  return { databaseUrl: raw };
}

/** @throws ConfigError naming the variable; the endpoint URL is checked for a scheme and must not carry credentials. */
function s3Settings(env: NodeJS.ProcessEnv): { s3?: S3Settings } {
  const bucket = env.WEIGHTMARK_S3_BUCKET;
  const endpoint = env.WEIGHTMARK_S3_URL || undefined;
  if (!bucket) {
    if (endpoint) throw new ConfigError('WEIGHTMARK_S3_URL is set but WEIGHTMARK_S3_BUCKET is not: name the bucket that holds model files');
    return {};
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError(`WEIGHTMARK_S3_BUCKET='${bucket}' is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')`);
  if (endpoint) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new ConfigError('WEIGHTMARK_S3_URL is not a URL (expected http(s)://host:port)');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`WEIGHTMARK_S3_URL must be http:// or https:// (found '${u.protocol}')`);
    if (u.username || u.password) throw new ConfigError('WEIGHTMARK_S3_URL must not carry credentials: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  const pathStyle = env.WEIGHTMARK_S3_PATH_STYLE;
  if (pathStyle !== undefined && pathStyle !== '' && !['true', 'false', '1', '0'].includes(pathStyle)) throw new ConfigError(`WEIGHTMARK_S3_PATH_STYLE='${pathStyle}' is not true or false`);
  const prefix = env.WEIGHTMARK_S3_PREFIX ?? 'models/';
  return {
    s3: {
      bucket,
      ...(endpoint ? { endpoint } : {}),
      region: env.WEIGHTMARK_S3_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
      // path style by default off AWS, where virtual-host buckets need wildcard DNS
      forcePathStyle: pathStyle ? pathStyle === 'true' || pathStyle === '1' : endpoint !== undefined,
      ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
        : {}),
    },
  };
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** @throws ConfigError naming the variable and the accepted values. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const level = (env.WEIGHTMARK_LOG_LEVEL ?? env.LOG_LEVEL ?? 'info').toLowerCase();
  if (!LEVELS.includes(level as LogLevel)) throw new ConfigError(`WEIGHTMARK_LOG_LEVEL='${level}' is not one of ${LEVELS.join(', ')}`);
  const dataDir = path.resolve(env.WEIGHTMARK_DATA_DIR || './data');
  const cfg: ServiceConfig = {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST || '0.0.0.0',
    dataDir,
    keysDir: path.resolve(env.WEIGHTMARK_KEYS_DIR || './keys'),
    ...(env.WEIGHTMARK_MASTER_KEY ? { masterKey: parseMasterKey(env.WEIGHTMARK_MASTER_KEY) } : {}),
    issuer: env.WEIGHTMARK_ISSUER || 'weightmark',
    audience: env.WEIGHTMARK_AUDIENCE || 'weightmark-api',
    tokenTtlSec: int(env, 'WEIGHTMARK_TOKEN_TTL_SEC', 3600, 1, 10 * 365 * 86400),
    tokenMaxTtlSec: int(env, 'WEIGHTMARK_TOKEN_MAX_TTL_SEC', 30 * 86400, 1, 10 * 365 * 86400),
    jsonBodyLimitBytes: int(env, 'WEIGHTMARK_JSON_LIMIT_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    uploadMaxFileBytes: int(env, 'WEIGHTMARK_UPLOAD_MAX_BYTES', 256 * 1024 * 1024, 1024, 8 * 1024 * 1024 * 1024),
    uploadMaxFiles: int(env, 'WEIGHTMARK_UPLOAD_MAX_FILES', 8, 1, 64),
    datasetMaxSamples: int(env, 'WEIGHTMARK_DATASET_MAX_SAMPLES', 100_000, 10, 10_000_000),
    datasetMaxBytes: int(env, 'WEIGHTMARK_DATASET_MAX_BYTES', 512 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
    rateLimitPerMin: int(env, 'WEIGHTMARK_RATE_LIMIT_PER_MIN', 600, 0, 1_000_000),
    logLevel: level as LogLevel,
    jobConcurrency: int(env, 'WEIGHTMARK_JOB_CONCURRENCY', 1, 1, 64),
    verifyWorkers: int(env, 'WEIGHTMARK_VERIFY_WORKERS', Math.max(1, Math.min(4, os.availableParallelism())), 0, 64),
    verifyMaxBytes: int(env, 'WEIGHTMARK_VERIFY_MAX_BYTES', 1024 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024 * 1024),
    verifyMaxInFlight: int(env, 'WEIGHTMARK_VERIFY_MAX_IN_FLIGHT', 32, 1, 10_000),
    verifyMaxPerSubject: int(env, 'WEIGHTMARK_VERIFY_MAX_PER_SUBJECT', 4, 1, 10_000),
    verifyQuotaPerDay: int(env, 'WEIGHTMARK_VERIFY_QUOTA_PER_DAY', 2000, 0, 100_000_000),
    shutdownGraceSec: int(env, 'WEIGHTMARK_SHUTDOWN_GRACE_SEC', 10, 0, 600),
    fpr: num(env, 'WEIGHTMARK_FPR', 1e-6, 0, 1),
    trustProxy: env.WEIGHTMARK_TRUST_PROXY === '1' || env.WEIGHTMARK_TRUST_PROXY === 'true',
    runJobs: !(env.WEIGHTMARK_RUN_JOBS === '0' || env.WEIGHTMARK_RUN_JOBS === 'false'),
    ...databaseUrl(env),
    ...s3Settings(env),
  };
  return { ...cfg, ...overrides };
}

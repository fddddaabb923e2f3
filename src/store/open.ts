/**
 * Picks the store engine: PostgreSQL when a database URL is configured (replicas share it), else the
 * embedded SQLite file in the data dir (the default of `npm start`).
 */
import { SqliteStore } from './sqlite.js';
import type { AuditHeadSigner, Store } from './types.js';

/** A store the service runs on: the contract plus the schema version it reached (logged at start). */
export type ServiceStore = Store & { schemaVersion(): number; readonly engine: 'sqlite' | 'postgres' };

export async function openStore(o: { databaseUrl?: string; sqliteFile: string; signHead: AuditHeadSigner }): Promise<ServiceStore> {
  if (o.databaseUrl) {
    // loaded only when asked for: the embedded default never loads the PostgreSQL client
    const { PgStore } = await import('./postgres.js');
    return PgStore.open(o.databaseUrl, { signHead: o.signHead });
  }
  return new SqliteStore(o.sqliteFile, { signHead: o.signHead });
}

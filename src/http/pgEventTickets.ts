/**
 * Event tickets in PostgreSQL (table event_tickets), for several API replicas: a ticket issued by one
 * replica opens a stream on any, once. Same rules as the in-memory EventTickets (eventTickets.ts):
 * only the sha256 is stored, a TTL, a bound on unused tickets per subject.
 */
import type pg from 'pg';
import type { Principal } from '../crypto/signing.js';
import { newTicket, ticketDigest, ticketLimitError, TICKET_PREFIX, TICKET_TTL_MS, TICKETS_PER_SUBJECT, type IssuedTicket, type TicketBook } from './eventTickets.js';

export class PgEventTickets implements TicketBook {
  constructor(private readonly pool: pg.Pool, private readonly ttlMs = TICKET_TTL_MS, private readonly perSubject = TICKETS_PER_SUBJECT) {}

  /** @throws TicketLimitError when the subject holds its quota of unused tickets (checked, then inserted: replicas racing may pass it by one each). */
  async issue(principal: Principal): Promise<IssuedTicket> {
    const now = Date.now();
    await this.pool.query('DELETE FROM event_tickets WHERE expires_at <= $1', [now]);
    const unused = Number((await this.pool.query('SELECT count(*) AS n FROM event_tickets WHERE subject = $1', [principal.sub])).rows[0].n);
    if (unused >= this.perSubject) throw ticketLimitError(principal.sub, unused, this.ttlMs);
    const { ticket, expiresAt } = newTicket(principal, now, this.ttlMs);
    await this.pool.query('INSERT INTO event_tickets (digest, subject, principal, expires_at) VALUES ($1, $2, $3, $4)', [ticketDigest(ticket), principal.sub, JSON.stringify(principal), expiresAt]);
    return { ticket, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** Once: the row is deleted as it is read, so two replicas cannot both redeem it. */
  async redeem(ticket: string): Promise<Principal | undefined> {
    if (!ticket.startsWith(TICKET_PREFIX)) return undefined;
    const row = (await this.pool.query('DELETE FROM event_tickets WHERE digest = $1 RETURNING principal, expires_at', [ticketDigest(ticket)])).rows[0] as { principal: string; expires_at: string } | undefined;
    return row && Number(row.expires_at) > Date.now() ? (JSON.parse(row.principal) as Principal) : undefined;
  }
}

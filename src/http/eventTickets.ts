/**
 * One-time tickets for event streams. A browser's EventSource cannot send an Authorization header, so
 * a client holding a token first trades it (POST /v1/events/tickets) for a ticket it may put in the
 * stream's URL. A URL is a poor place for a secret — it ends up in histories and proxy logs — hence a
 * ticket is good for one stream only, for a minute at most (never past its token's expiry), and carries
 * exactly the subject and role of the token it came from.
 *
 * Only the sha256 of each ticket is kept (a memory dump does not hand out live tickets): in memory
 * here (the embedded single-process default), in PostgreSQL with several replicas (pgEventTickets.ts),
 * so a ticket issued by one replica opens a stream on any.
 */
import crypto from 'node:crypto';
import type { Principal } from '../crypto/signing.js';

/** Long enough to open a stream after asking for the ticket, short enough that a leaked URL is soon worthless. */
export const TICKET_TTL_MS = 60_000;
/** Tickets one subject may hold unused at once: a console follows a few jobs, not hundreds. */
export const TICKETS_PER_SUBJECT = 32;

export const TICKET_PREFIX = 'wmt_';

interface Held {
  readonly principal: Principal;
  readonly expiresAt: number;
}

export interface IssuedTicket {
  readonly ticket: string;
  readonly expiresAt: string;
}

export class TicketLimitError extends Error {
  override name = 'TicketLimitError';
}

export const ticketDigest = (ticket: string): string => crypto.createHash('sha256').update(ticket).digest('hex');

/** A new ticket for `principal` and when it expires: the earlier of now + TTL and the token's expiry. */
export function newTicket(principal: Principal, now: number, ttlMs: number): { ticket: string; expiresAt: number } {
  return { ticket: TICKET_PREFIX + crypto.randomBytes(32).toString('base64url'), expiresAt: Math.min(now + ttlMs, principal.exp !== undefined ? principal.exp * 1000 : Infinity) };
}

export function ticketLimitError(sub: string, unused: number, ttlMs: number): TicketLimitError {
  return new TicketLimitError(`subject '${sub}' holds ${unused} unused event tickets; use one or wait up to ${Math.ceil(ttlMs / 1000)} s for them to expire`);
}

/** Where tickets are kept: this process (EventTickets) or the shared database. */
export interface TicketBook {
  issue(principal: Principal): IssuedTicket | Promise<IssuedTicket>;
  redeem(ticket: string): Principal | undefined | Promise<Principal | undefined>;
}

export class EventTickets implements TicketBook {
  readonly #held = new Map<string, Held>();
  readonly #ttlMs: number;
  readonly #perSubject: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; perSubject?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? TICKET_TTL_MS;
    this.#perSubject = opts.perSubject ?? TICKETS_PER_SUBJECT;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * A fresh ticket for `principal`, valid once until the earlier of now + TTL and the token's expiry.
   * @throws TicketLimitError when the subject already holds its quota of unused tickets.
   */
  issue(principal: Principal): IssuedTicket {
    const now = this.#now();
    this.#sweep(now);
    const unused = [...this.#held.values()].filter((h) => h.principal.sub === principal.sub).length;
    if (unused >= this.#perSubject) throw ticketLimitError(principal.sub, unused, this.#ttlMs);
    const { ticket, expiresAt } = newTicket(principal, now, this.#ttlMs);
    this.#held.set(ticketDigest(ticket), { principal, expiresAt });
    return { ticket, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** The principal a ticket was issued to, once: undefined for an unknown, already used or expired ticket. */
  redeem(ticket: string): Principal | undefined {
    if (!ticket.startsWith(TICKET_PREFIX)) return undefined;
    const key = ticketDigest(ticket);
    const held = this.#held.get(key);
    if (!held) return undefined;
    this.#held.delete(key);
    return held.expiresAt > this.#now() ? held.principal : undefined;
  }

  /** Unused tickets still held (expired ones included until the next sweep). */
  get size(): number {
    return this.#held.size;
  }

  #sweep(now: number): void {
    for (const [k, h] of this.#held) if (h.expiresAt <= now) this.#held.delete(k);
  }
}

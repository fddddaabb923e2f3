/**
 * Bearer tokens: `identify` reads the token if there is one (so rate limits can key on it), and
 * `authorize` enforces an operation's `x-roles`. 401 for no / expired / bad token, 403 for a role the
 * operation does not admit. On the few operations that admit them (`x-event-ticket`), `redeemTicket`
 * lets a one-time ticket stand in for the token (see eventTickets.ts).
 */
import type { NextFunction, Request, Response } from 'express';
import { TokenError, type Principal, type Role, type SigningKeys } from '../crypto/signing.js';
import { AppError } from '../service/errors.js';
import type { TicketBook } from './eventTickets.js';

export function identify(signing: SigningKeys, opts: { issuer: string; audience: string; maxTtlSec: number }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const h = req.headers.authorization;
    if (!h) return next();
    const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(h);
    if (!m) {
      res.locals.authError = new AppError('WM_ERR_AUTH_INVALID', "the Authorization header must be 'Bearer <token>'");
      return next();
    }
    try {
      res.locals.principal = signing.verifyToken(m[1]!, opts);
    } catch (e) {
      const te = e instanceof TokenError ? e : new TokenError('invalid', 'the token failed verification');
      res.locals.authError = new AppError(te.reason === 'expired' ? 'WM_ERR_AUTH_EXPIRED' : 'WM_ERR_AUTH_INVALID', te.message);
    }
    next();
  };
}

export function authorize(operationId: string, roles: readonly (Role | 'public')[]) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    if (roles.includes('public')) return next();
    const authError = res.locals.authError as AppError | undefined;
    if (authError) return next(authError);
    const p = res.locals.principal as Principal | undefined;
    if (!p) return next(new AppError('WM_ERR_AUTH_MISSING', "send 'Authorization: Bearer <token>'; mint one with `weightmark token --role R --sub S`"));
    if (!roles.includes(p.role)) {
      return next(new AppError('WM_ERR_FORBIDDEN', `role '${p.role}' may not call ${operationId}; it needs one of: ${roles.join(', ')}`));
    }
    next();
  };
}

/**
 * Without an Authorization header, `?ticket=` authenticates the request as the ticket's subject and
 * role, once; `authorize` then applies the operation's roles as for a token. A bad ticket is 401 (the
 * client asks for another), never a fall-through to "no token".
 */
export function redeemTicket(tickets: TicketBook) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const ticket = req.query.ticket;
    if (req.headers.authorization || ticket === undefined) return next();
    try {
      const principal = typeof ticket === 'string' ? await tickets.redeem(ticket) : undefined;
      if (!principal) return next(new AppError('WM_ERR_AUTH_INVALID', 'the event ticket is unknown, already used or expired; ask POST /v1/events/tickets for a new one'));
      res.locals.principal = principal;
      next();
    } catch (e) {
      next(e);
    }
  };
}

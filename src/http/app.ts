/**
 * The express app, built from the contract: every operation in openapi.yaml is mounted with its role
 * check, its request validation and its handler; everything else is 404 problem+json.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createRequire } from 'node:module';
import { AppError } from '../service/errors.js';
import type { ServiceContext } from '../service/context.js';
import { describeErrors, loadContract, OPENAPI_FILE, type Contract, type Operation } from './contract.js';
import { authorize, identify, redeemTicket } from './auth.js';
import { EventTickets, type TicketBook } from './eventTickets.js';
import { mountConsole } from './console.js';
import { rateLimit, requestContext, securityHeaders, type RateCounter } from './middleware.js';
import { sendProblem, toAppError } from './problem.js';
import { handlers as makeHandlers, type Handler } from './routes.js';
import { multipart, removeUploads } from './uploads.js';

const require = createRequire(import.meta.url);

function validate(op: Operation) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (op.validateParams && !op.validateParams({ ...req.params })) {
      return next(new AppError('WM_ERR_VALIDATION', 'the path does not match the contract', { errors: describeErrors('path', op.validateParams.errors) }));
    }
    const q = { ...(req.query as Record<string, unknown>) };
    if (op.validateQuery && !op.validateQuery(q)) {
      return next(new AppError('WM_ERR_VALIDATION', 'the query does not match the contract', { errors: describeErrors('query', op.validateQuery.errors) }));
    }
    res.locals.query = q;
    if (op.bodyKind === 'json') {
      if (!req.is('application/json')) {
        if (op.bodyRequired || Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding']) {
          return next(new AppError('WM_ERR_UNSUPPORTED_MEDIA_TYPE', `send the body as JSON with Content-Type: application/json (got '${req.headers['content-type'] ?? 'none'}')`));
        }
      }
      if (op.validateBody && !op.validateBody(req.body ?? null)) {
        return next(new AppError('WM_ERR_VALIDATION', 'the body does not match the contract', { errors: describeErrors('body', op.validateBody.errors) }));
      }
    }
    if (op.bodyKind === 'multipart' && !req.is('multipart/form-data')) {
      return next(new AppError('WM_ERR_UNSUPPORTED_MEDIA_TYPE', `send the upload as multipart/form-data (got '${req.headers['content-type'] ?? 'none'}')`));
    }
    next();
  };
}

function validateFields(op: Operation) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const fields = { ...((req.body ?? {}) as Record<string, unknown>) };
    if (op.validateFields && !op.validateFields(fields)) {
      return next(new AppError('WM_ERR_VALIDATION', 'the form fields do not match the contract', { errors: describeErrors('form', op.validateFields.errors) }));
    }
    next();
  };
}

const wrap = (h: Handler) => (req: Request, res: Response, next: NextFunction): void => {
  Promise.resolve()
    .then(() => h(req, res))
    .catch(next);
};

export function createApp(ctx: ServiceContext, opts: { ready: () => boolean; contract?: Contract; tickets?: TicketBook; rateCounter?: RateCounter }): express.Express {
  const contract = opts.contract ?? loadContract();
  const tickets = opts.tickets ?? new EventTickets();
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.config.trustProxy);
  app.set('etag', false);
  app.use(requestContext(ctx.logger, ctx.metrics));
  app.use(securityHeaders);
  app.use(identify(ctx.signing, { issuer: ctx.config.issuer, audience: ctx.config.audience, maxTtlSec: ctx.config.tokenMaxTtlSec }));
  app.use('/v1', rateLimit(ctx.config.rateLimitPerMin, opts.rateCounter));
  const json = express.json({ limit: ctx.config.jsonBodyLimitBytes, strict: true, type: 'application/json' });

  // the contract and its browsable docs (Swagger UI from node_modules, nothing from the internet)
  const spec = fs.readFileSync(OPENAPI_FILE, 'utf8');
  app.get('/openapi.yaml', (_req, res) => void res.type('application/yaml').send(spec));
  app.get('/openapi.json', (_req, res) => void res.json(contract.document));
  const uiDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  app.get(['/docs', '/docs/index.html'], (req, res) => {
    if (req.path === '/docs') return res.redirect(301, '/docs/');
    res.type('html').send(DOCS_HTML);
  });
  app.get('/docs/', (_req, res) => void res.type('html').send(DOCS_HTML));
  app.get('/docs/weightmark-init.js', (_req, res) => void res.type('application/javascript').send(DOCS_INIT));
  app.use('/docs', express.static(uiDir, { index: false }));
  mountConsole(app);

  const hs = makeHandlers(ctx, { ready: opts.ready, tickets });
  const tag = (op: Operation) => (_req: Request, res: Response, next: NextFunction): void => {
    res.locals.route = op.path;
    next();
  };
  for (const op of contract.operations) {
    const h = hs[op.operationId];
    if (!h) throw new Error(`openapi.yaml describes ${op.operationId} but no handler implements it`);
    const chain = [tag(op), ...(op.acceptsTicket ? [redeemTicket(tickets)] : []), authorize(op.operationId, op.roles)];
    if (op.bodyKind === 'json') chain.push(json);
    if (op.bodyKind === 'multipart') {
      chain.push(validate(op));
      // a dataset is one archive or an IDX pair
      const maxFiles = op.operationId === 'registerDataset' ? Math.min(2, ctx.config.uploadMaxFiles) : ctx.config.uploadMaxFiles;
      chain.push(multipart(ctx.config, { files: op.operationId === 'registerModel' ? ['file', 'key'] : ['file'], maxFiles }));
      chain.push(validateFields(op));
      app[op.method](op.expressPath, ...chain, wrap(h));
    } else {
      app[op.method](op.expressPath, ...chain, validate(op), wrap(h));
    }
  }

  // a known path with another method → 405; anything else → 404
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const known = contract.operations.filter((o) => new RegExp('^' + o.path.replace(/\{\w+\}/g, '[^/]+') + '$').test(req.path));
    if (known.length) {
      _res.setHeader('Allow', known.map((o) => o.method.toUpperCase()).join(', '));
      return next(new AppError('WM_ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; allowed: ${known.map((o) => o.method.toUpperCase()).join(', ')}`));
    }
    next(new AppError('WM_ERR_ROUTE_NOT_FOUND', `no route ${req.method} ${req.path}; see /openapi.yaml or /docs`));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    removeUploads(req, ctx.config);
    const e = toAppError(err);
    res.locals.errorCode = e.code;
    if (e.status >= 500) ctx.logger.error('unhandled error', { requestId: res.locals.requestId, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), stack: err instanceof Error ? err.stack?.split('\n').slice(0, 6).join(' | ') : undefined });
    sendProblem(req, res, e);
  });
  return app;
}

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>weightmark API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/weightmark-init.js"></script></body></html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });`;

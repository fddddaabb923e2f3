/**
 * Route handlers, one per operationId in openapi.yaml: each reads the validated input, calls one use
 * case and shapes the response. Roles, validation and errors are handled around them (app.ts).
 */
import { defaults } from '../core/config.js';
import type { Request, Response } from 'express';
import { writeZipStored } from '../formats/zip.js';
import type { Principal } from '../crypto/signing.js';
import { AppError, ERRORS, codeFromProblemSlug, problemType } from '../service/errors.js';
import type { ServiceContext } from '../service/context.js';
import * as models from '../service/models.js';
import * as training from '../service/training.js';
import * as datasets from '../service/datasets.js';
import * as releases from '../service/releases.js';
import * as verifications from '../service/verifications.js';
import * as audit from '../service/audit.js';
import * as tokens from '../service/tokens.js';
import * as attacks from '../service/attacks.js';
import { attackCatalogue } from '../attacks/index.js';
import * as watermark from '../service/watermark.js';
import { isTerminal } from '../jobs/runner.js';
import { lastSeenEventId, streamJobEvents } from './jobEventStream.js';
import { TICKET_TTL_MS, TicketLimitError, type TicketBook } from './eventTickets.js';
import { filesOf, readParts, suspectBuffers } from './uploads.js';
import { takeVerifyQuota } from '../service/verifyGate.js';
import { markFor } from '../service/verificationMark.js';
import type { DownloadFormat, ModelFileIn } from '../service/ports.js';

export type Handler = (req: Request, res: Response) => Promise<void> | void;

const actor = (res: Response): Principal => res.locals.principal as Principal;
const query = (res: Response): Record<string, unknown> => (res.locals.query ?? {}) as Record<string, unknown>;
const page = (res: Response) => ({ limit: Number(query(res).limit ?? 50), offset: Number(query(res).offset ?? 0) });
const field = (req: Request, name: string): string | undefined => {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
};

async function getJobOr404(ctx: ServiceContext, id: string) {
  const job = await ctx.store.getJob(id);
  if (!job) throw new AppError('WM_ERR_JOB_NOT_FOUND', `no job with id '${id}'; list jobs with GET /v1/jobs`);
  return job;
}

export function handlers(ctx: ServiceContext, state: { ready: () => boolean; tickets: TicketBook }): Record<string, Handler> {
  const cancel: Handler = async (req, res) => {
    const job = await getJobOr404(ctx, String(req.params.id));
    if (isTerminal(job.status)) throw new AppError('WM_ERR_JOB_FINISHED', `job '${job.id}' already ${job.status}; nothing to cancel`);
    await ctx.jobs.cancel(job, actor(res));
    res.status(202).json(await getJobOr404(ctx, job.id));
  };

  return {
    getHealth: (_req, res) => {
      res.json({ status: 'ok', version: '0.1.0' });
    },
    getReady: async (_req, res) => {
      if (!state.ready()) throw new AppError('WM_ERR_SHUTTING_DOWN', 'the service is starting or shutting down; retry shortly');
      await ctx.store.ping();
      res.json({ status: 'ready', jobs: { queued: ctx.jobs.queued, running: ctx.jobs.running } });
    },
    getMetrics: (_req, res) => {
      res.type('text/plain; version=0.0.4').send(ctx.metrics.render());
    },
    getJwks: (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.json(ctx.signing.jwks());
    },
    getProblemType: (req, res) => {
      const code = codeFromProblemSlug(String(req.params.slug));
      if (!code) throw new AppError('WM_ERR_ROUTE_NOT_FOUND', `no problem type '${req.params.slug}'`);
      res.json({ type: problemType(code), code, status: ERRORS[code].status, title: ERRORS[code].title });
    },

    createToken: async (req, res) => {
      res.status(201).json(await tokens.mintToken(ctx, actor(res), req.body));
    },
    rotateSigningKey: async (_req, res) => {
      res.json(await tokens.rotateSigningKey(ctx, actor(res)));
    },

    listModels: async (_req, res) => {
      res.json(await models.listModels(ctx, page(res)));
    },
    registerModel: async (req, res) => {
      const keyPart = readParts(req, 'key', ctx.config)[0]?.bytes ?? field(req, 'key');
      const name = field(req, 'name');
      const arch = field(req, 'arch');
      const m = await models.registerUploadedModel(ctx, actor(res), {
        files: readParts(req, 'file', ctx.config), ...(name ? { name } : {}), ...(arch ? { arch } : {}), ...(keyPart !== undefined ? { key: keyPart } : {}),
      });
      res.status(201).location(`/v1/models/${m.id}`).json(m);
    },
    listDatasets: async (_req, res) => {
      res.json(await datasets.listDatasets(ctx, page(res)));
    },
    registerDataset: async (req, res) => {
      const name = field(req, 'name');
      const holdout = datasets.parseHoldout(field(req, 'holdout'));
      const { dataset, created } = await datasets.registerUploadedDataset(ctx, actor(res), { files: readParts(req, 'file', ctx.config), holdout, ...(name ? { name } : {}) });
      res.status(created ? 201 : 200).location(`/v1/datasets/${dataset.id}`).json({ ...dataset, created });
    },
    getDataset: async (req, res) => {
      res.json(await datasets.getDataset(ctx, String(req.params.id)));
    },
    trainModel: async (req, res) => {
      const body = { strategy: defaults.training.strategy, ...(req.body as object) } as training.TrainRequest;
      const job = await training.startTraining(ctx, actor(res), body);
      res.status(202).location(`/v1/jobs/${job.id}`).json(job);
    },
    watermarkModel: async (req, res) => {
      const job = await watermark.startWatermarking(ctx, actor(res), String(req.params.id), (req.body ?? {}) as watermark.WatermarkRequest);
      res.status(202).location(`/v1/jobs/${job.id}`).json(job);
    },
    getModel: async (req, res) => {
      res.json(models.modelView(await models.getModel(ctx, String(req.params.id))));
    },
    exportModelKey: async (req, res) => {
      res.json(await models.exportModelKey(ctx, actor(res), String(req.params.id)));
    },
    listAttacks: (_req, res) => {
      res.json({ items: attackCatalogue() });
    },
    startAttack: async (req, res) => {
      const job = await attacks.startAttackSweep(ctx, actor(res), String(req.params.id), req.body as attacks.AttackRequest);
      res.status(202).location(`/v1/jobs/${job.id}`).json(job);
    },
    createRelease: async (req, res) => {
      const out = await releases.createRelease(ctx, actor(res), String(req.params.id), req.body as releases.ReleaseRequest);
      res.status(202).location(`/v1/releases/${out.release.id}`).json(out);
    },

    listJobs: async (_req, res) => {
      const q = query(res);
      const { items, total } = await ctx.store.listJobs({ ...page(res), ...(q.status ? { status: q.status as 'queued' } : {}) });
      res.json({ items, total, ...page(res) });
    },
    getJob: async (req, res) => {
      res.json(await getJobOr404(ctx, String(req.params.id)));
    },
    getAttackPlot: async (req, res) => {
      res.type('image/svg+xml').send(attacks.attackPlot(await getJobOr404(ctx, String(req.params.id))));
    },
    deleteJob: cancel,
    cancelJob: cancel,
    streamJobEvents: async (req, res) => {
      const lastEventId = lastSeenEventId(req, query(res));
      streamJobEvents(ctx, await getJobOr404(ctx, String(req.params.id)), lastEventId, res);
    },
    createEventTicket: async (_req, res) => {
      try {
        res.status(201).json(await state.tickets.issue(actor(res)));
      } catch (e) {
        if (e instanceof TicketLimitError) throw new AppError('WM_ERR_RATE_LIMITED', e.message, { retryAfterSec: TICKET_TTL_MS / 1000 });
        throw e;
      }
    },

    listReleases: async (_req, res) => {
      const q = query(res);
      res.json(await releases.listReleases(ctx, { ...page(res), ...(q.modelId ? { modelId: String(q.modelId) } : {}), ...(q.licensee ? { licensee: String(q.licensee) } : {}) }));
    },
    getRelease: async (req, res) => {
      res.json(releases.releaseView(await releases.getRelease(ctx, String(req.params.id))));
    },
    downloadRelease: async (req, res) => {
      const format = String(query(res).format ?? 'onnx') as DownloadFormat;
      const d = await releases.downloadRelease(ctx, actor(res), String(req.params.id), format);
      res.setHeader('Weightmark-Manifest', d.manifestJws);
      if (d.files.length === 1) {
        const f = d.files[0]!;
        res.type('application/octet-stream').attachment(`${d.release.id}-${f.name}`).send(Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.length));
        return;
      }
      const zip = writeZipStored([...d.files.map((f) => ({ name: f.name, data: f.bytes })), { name: 'manifest.jws', data: new TextEncoder().encode(d.manifestJws + '\n') }]);
      res.type('application/zip').attachment(`${d.release.id}-${format}.zip`).send(Buffer.from(zip.buffer, zip.byteOffset, zip.length));
    },
    getReleaseManifest: async (req, res) => {
      const format = String(query(res).format ?? 'onnx');
      const release = await releases.getRelease(ctx, String(req.params.id));
      const a = await ctx.store.getArtifact(release.id, format);
      if (!a) throw new AppError('WM_ERR_RELEASE_NOT_READY', `release '${release.id}' has not been issued in format '${format}' yet; download it first`);
      res.type('application/jose').send(a.manifestJws);
    },

    listVerifications: async (_req, res) => {
      res.json(await verifications.listVerifications(ctx, actor(res), page(res)));
    },
    createVerification: async (req, res) => {
      const modelId = field(req, 'modelId');
      const licensee = field(req, 'licensee');
      // Admission before the upload is read into memory: bytes, queue and per-subject bounds, then the daily quota.
      const permit = ctx.verifyGate.enter(actor(res).sub, filesOf(req).reduce((a, f) => a + f.size, 0));
      let files: ModelFileIn[] = [];
      try {
        await takeVerifyQuota(ctx, actor(res));
        files = readParts(req, 'file', ctx.config, suspectBuffers);
        const v = await verifications.verifySuspect(ctx, actor(res), { files, ...(modelId ? { modelId } : {}), ...(licensee ? { licensee } : {}) });
        const mark = await markFor(ctx, actor(res), files, v.report as verifications.VerificationReport);
        res.status(201).location(`/v1/verifications/${v.id}`).json({ ...verifications.verificationView(actor(res), v), ...(mark ? { mark } : {}) });
      } finally {
        permit.release();
        // The verification is over (its worker has answered or died): no view on the suspect remains.
        const buf = files[0]?.bytes.buffer;
        if (buf instanceof SharedArrayBuffer) suspectBuffers.give(buf);
      }
    },
    getVerification: async (req, res) => {
      res.json(verifications.verificationView(actor(res), await verifications.getVerification(ctx, actor(res), String(req.params.id))));
    },
    getVerificationReport: async (req, res) => {
      const v = await verifications.getVerification(ctx, actor(res), String(req.params.id));
      // The full report only to admin and auditor; everyone else gets the signed verdict.
      res.type('application/jose').send(verifications.seesFullReport(actor(res)) ? v.reportJws : v.verdictJws);
    },

    listAuditEvents: async (_req, res) => {
      const q = query(res);
      res.json(
        await audit.listAuditEvents(ctx, {
          limit: Number(q.limit ?? 50),
          ...(q.actor ? { actor: String(q.actor) } : {}), ...(q.action ? { action: String(q.action) } : {}),
          ...(q.since ? { since: String(q.since) } : {}), ...(q.after !== undefined ? { after: Number(q.after) } : {}),
        }),
      );
    },
    verifyAuditChain: async (_req, res) => {
      const q = query(res);
      if ((q.seq === undefined) !== (q.hash === undefined)) {
        throw new AppError('WM_ERR_VALIDATION', `a witness's head is seq AND hash (as GET /v1/audit/head gave them); got only ${q.seq === undefined ? 'hash' : 'seq'}`);
      }
      res.json(await audit.verifyAuditChain(ctx, q.seq === undefined ? undefined : { seq: Number(q.seq), hash: String(q.hash) }));
    },
    getAuditHead: async (_req, res) => {
      res.json(await audit.getAuditHead(ctx));
    },
  };
}

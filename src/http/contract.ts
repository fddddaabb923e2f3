/**
 * The OpenAPI document is the contract: routes, roles (`x-roles`) and request schemas are read from
 * it, so a route that is not described cannot exist and a described rule cannot be skipped.
 * Validation uses ajv (JSON Schema 2020-12, as OpenAPI 3.1 does) against the document itself.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Role } from '../crypto/signing.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Operation {
  readonly operationId: string;
  readonly method: HttpMethod;
  /** OpenAPI template, e.g. /v1/models/{id}. */
  readonly path: string;
  /** Express form, e.g. /v1/models/:id. */
  readonly expressPath: string;
  readonly roles: readonly (Role | 'public')[];
  /** `x-event-ticket: true`: a one-time ticket (`?ticket=`) may stand in for the bearer token. */
  readonly acceptsTicket: boolean;
  readonly bodyKind: 'none' | 'json' | 'multipart';
  readonly bodyRequired: boolean;
  validateParams?: ValidateFunction;
  validateQuery?: ValidateFunction;
  validateBody?: ValidateFunction;
  /** Multipart: the non-file fields (binary parts are checked by the upload handling). */
  validateFields?: ValidateFunction;
}

export interface Contract {
  readonly document: Record<string, unknown>;
  readonly operations: readonly Operation[];
  byId(operationId: string): Operation;
}

const esc = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

export function loadDocument(file = OPENAPI_FILE): Record<string, unknown> {
  return YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** An ajv instance holding the document, so `openapi.json#/…` refs resolve. */
export function makeAjv(document: Record<string, unknown>, opts: { coerce?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, coerceTypes: opts.coerce ? 'array' : false, useDefaults: true, validateFormats: true });
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'x-roles' });
  ajv.addKeyword({ keyword: 'x-event-ticket' });
  ajv.addSchema({ ...document, $id: 'openapi.json' });
  return ajv;
}

interface RawParam {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
  $ref?: string;
}

export function loadContract(file = OPENAPI_FILE): Contract {
  const document = loadDocument(file);
  const ajv = makeAjv(document);
  const coercing = makeAjv(document, { coerce: true });
  const components = (document.components ?? {}) as { parameters?: Record<string, RawParam> };
  const resolveParam = (p: RawParam): RawParam => (p.$ref ? components.parameters![p.$ref.split('/').pop()!]! : p);
  const operations: Operation[] = [];
  const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>;
  for (const [p, item] of Object.entries(paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method];
      if (!op) continue;
      const params = ((op.parameters ?? []) as RawParam[]).map(resolveParam);
      const content = ((op.requestBody as { content?: Record<string, unknown> } | undefined)?.content ?? {}) as Record<string, unknown>;
      const bodyKind = content['application/json'] ? 'json' : content['multipart/form-data'] ? 'multipart' : 'none';
      const o: Operation = {
        operationId: String(op.operationId),
        method,
        path: p,
        expressPath: p.replace(/\{(\w+)\}/g, ':$1'),
        roles: (op['x-roles'] as Operation['roles']) ?? [],
        acceptsTicket: op['x-event-ticket'] === true,
        bodyKind,
        bodyRequired: Boolean((op.requestBody as { required?: boolean } | undefined)?.required),
      };
      const group = (where: string): Record<string, unknown> | undefined => {
        const ps = params.filter((x) => x.in === where);
        if (!ps.length) return undefined;
        return {
          type: 'object',
          properties: Object.fromEntries(ps.map((x) => [x.name, x.schema ?? {}])),
          required: ps.filter((x) => x.required).map((x) => x.name),
          additionalProperties: where === 'path',
        };
      };
      const rewrite = (s: unknown): unknown => JSON.parse(JSON.stringify(s).replace(/"#\/components\//g, '"openapi.json#/components/'));
      const pathSchema = group('path');
      const querySchema = group('query');
      if (pathSchema) o.validateParams = coercing.compile(rewrite(pathSchema) as object);
      if (querySchema) o.validateQuery = coercing.compile(rewrite(querySchema) as object);
      if (bodyKind === 'multipart') {
        const schema = (content['multipart/form-data'] as { schema: { properties: Record<string, Record<string, unknown>>; required?: string[] } }).schema;
        const isFile = (p: Record<string, unknown>): boolean => p.format === 'binary' || (p.items as Record<string, unknown> | undefined)?.format === 'binary';
        const fields = Object.fromEntries(Object.entries(schema.properties).filter(([, v]) => !isFile(v)));
        o.validateFields = ajv.compile(rewrite({ type: 'object', properties: fields, required: (schema.required ?? []).filter((r) => r in fields) }) as object);
      }
      if (bodyKind === 'json') o.validateBody = ajv.compile({ $ref: `openapi.json#/paths/${esc(p)}/${method}/requestBody/content/application~1json/schema` });
      operations.push(o);
    }
  }
  const index = new Map(operations.map((o) => [o.operationId, o]));
  return {
    document,
    operations,
    byId(id) {
      const o = index.get(id);
      if (!o) throw new Error(`operation '${id}' is not in openapi.yaml`);
      return o;
    },
  };
}

/** ajv errors as {path, message} a client can act on ("body/licensee: must be string"). */
export function describeErrors(where: string, errors: readonly ErrorObject[] | null | undefined): { path: string; message: string }[] {
  return (errors ?? []).map((e) => {
    let p = where + (e.instancePath || '');
    if (e.keyword === 'required') p += '/' + String(e.params.missingProperty);
    if (e.keyword === 'additionalProperties') p += '/' + String(e.params.additionalProperty);
    const extra = e.keyword === 'enum' ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : e.keyword === 'additionalProperties' ? ' (unknown field)' : '';
    return { path: p, message: `${e.message ?? 'is invalid'}${extra}` };
  });
}

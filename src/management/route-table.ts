import type { Request, Response, Router } from 'express';
import { expressLib } from '../lazy';
import type Ajv2019 from 'ajv/dist/2019';
import type { ValidateFunction } from 'ajv/dist/2019';
import { ajv2019Lib } from '../lazy';
import { ValidationError } from '../errors';
import { JSON_TOO_DEEP, jsonTooDeep } from '../json-depth';

/**
 * The management API is declared as a table: method, path, schemas, handler. The express router
 * and the OpenAPI 3.1 document are both built from it, so they cannot drift apart.
 */
export type JsonSchema = Record<string, unknown>;

export interface ApiRoute {
  method: 'get' | 'post' | 'delete';
  /** Express-style path relative to /api/v1, e.g. `/assets/:id`. */
  path: string;
  summary: string;
  tag: string;
  body?: JsonSchema;
  query?: Record<string, JsonSchema & { description?: string }>;
  /** Schema of a successful response (documentation). */
  response?: JsonSchema;
  status?: number;
  /** The route talks to a peer connector (may answer 502). */
  peer?: boolean;
  /** The handler writes the response itself (a data stream, not JSON); `response` documents its media type. */
  raw?: { mediaType: string };
  handler: (req: { body: any; params: Record<string, string>; query: Record<string, string | undefined>; header?: (name: string) => string | undefined; res?: Response }) => unknown | Promise<unknown>;
}

/** Handlers that return nothing (deletes) answer 204. */
function successStatus(r: ApiRoute): number {
  return r.status ?? (r.method === 'delete' ? 204 : 200);
}

let ajv: Ajv2019 | undefined;

/**
 * A route's validator is compiled on the route's first request: compiling the schemas of every
 * route at start would keep Ajv and ~60 generated functions resident in an idle connector.
 */
function validator(schema: JsonSchema): () => ValidateFunction {
  let compiled: ValidateFunction | undefined;
  return () => (compiled ??= (ajv ??= new (ajv2019Lib())({ allErrors: false, strict: false, coerceTypes: false })).compile(schema));
}

/** The `limit` query parameter of list routes: digits only, as a string (query values are strings). */
export const LIMIT_QUERY: JsonSchema = { type: 'string', pattern: '^[0-9]{1,3}$' };

/** A list route's page size from its validated `limit` query parameter: 50 when absent or 0, at most 500. */
export function limitOf(query: Record<string, string | undefined>): number {
  return Math.min(Number(query.limit ?? 50) || 50, 500);
}

/** The first ajv error as a ValidationError with a field path like `/source/url`. */
function rejectWith(validate: ValidateFunction, where: string): never {
  const e = validate.errors![0]!;
  const missing = e.keyword === 'required' ? `/${String(e.params.missingProperty)}` : '';
  const extra = e.keyword === 'additionalProperties' ? `/${String(e.params.additionalProperty)}` : '';
  const message = e.keyword === 'additionalProperties' ? 'unknown field' : e.keyword === 'required' ? 'is required' : (e.message ?? 'invalid');
  throw new ValidationError(message, `${where}${e.instancePath}${missing}${extra}` || '/');
}

export function buildRouter(routes: ApiRoute[]): Router {
  const router = expressLib().Router();
  for (const route of routes) {
    const checkBody = route.body ? validator(route.body) : undefined;
    const querySchema = route.query ? { type: 'object', properties: route.query } : undefined;
    const checkQuery = querySchema ? validator(querySchema) : undefined;
    router[route.method](route.path, async (req: Request, res: Response) => {
      const body = req.body ?? {};
      // Before Ajv and the handlers, which recurse with the data.
      if (jsonTooDeep(body)) throw new ValidationError(JSON_TOO_DEEP);
      if (checkBody) {
        const validate = checkBody();
        if (!validate(body)) rejectWith(validate, '');
      }
      const query = Object.fromEntries(Object.entries(req.query).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      if (checkQuery) {
        const validate = checkQuery();
        if (!validate(query)) rejectWith(validate, 'query:');
      }
      const result = await route.handler({ body, params: req.params as Record<string, string>, query, header: (name) => req.get(name), res });
      if (route.raw) return;
      const status = successStatus(route);
      if (result === undefined) res.status(status).end();
      else res.status(status).json(result);
    });
  }
  return router;
}

/** OpenAPI 3.1 for the table (express `:id` becomes `{id}`). */
export function openApiDocument(routes: ApiRoute[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = '/api/v1' + r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const queryParams = Object.entries(r.query ?? {}).map(([name, schema]) => {
      const { description, ...rest } = schema;
      return { name, in: 'query', required: false, schema: rest, ...(description ? { description } : {}) };
    });
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      tags: [r.tag],
      ...(params.length || queryParams.length ? { parameters: [...params, ...queryParams] } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } } : {}),
      responses: {
        [String(successStatus(r))]: {
          description: 'success',
          ...(r.raw ? { content: { [r.raw.mediaType]: {} } } : r.response ? { content: { 'application/json': { schema: r.response } } } : {}),
        },
        '400': { description: 'invalid input; the error names the field', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '401': { description: 'missing or invalid API key' },
        '404': { description: 'not found', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        ...(r.method !== 'get' ? { '409': { description: 'already exists, in use, or not allowed in the current state', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } } : {}),
        ...(r.peer ? { '502': { description: 'the peer connector could not be reached or answered wrongly', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } } : {}),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Management API key from "hedgerow init"' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } } } },
        },
      },
    },
    paths,
  };
}

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Router } from 'express';
import { request } from 'undici';
import { createManagementApi, managementRoutes } from '../../src/management/api';
import { runCli, startNode, tempDir, type CliResult, type RunningNode } from '../helpers/cli';

/**
 * The management API and the CLI commands built on it, against ONE real connector process (child
 * process, ports picked by the OS). The connector negotiates with itself for the CLI flow tests:
 * peer tokens carry the certificate chain, so no DID resolution is needed; `localhost` is allowed as
 * peer address.
 */

type Json = Record<string, any>;

const SECRET = 'Bearer s3cret-backend-credential-7f3a';
const CLI_SECRET = 'cli-secret-token-19c2';
const PARTICIPANT = 'did:web:coop.example';

/** Every (method, path) registered on an express router, nested routers included (paths as express writes them). */
function expressRoutes(router: unknown, prefix = ''): string[] {
  const out: string[] = [];
  for (const layer of (router as { stack: any[] }).stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all')) out.push(`${method.toUpperCase()} ${prefix}${layer.route.path}`);
    } else if (Array.isArray(layer.handle?.stack)) {
      const mount = layer.rawPath;
      if (typeof mount !== 'string') throw new Error(`cannot read the mount path of a nested router: ${String(mount)}`);
      out.push(...expressRoutes(layer.handle, prefix + (mount === '/' ? '' : mount)));
    }
  }
  return out;
}

/** Every operation of an OpenAPI document, with `{id}` turned back into express `:id`. */
function documentedRoutes(doc: Json): string[] {
  return Object.entries(doc.paths as Record<string, Json>).flatMap(([p, ops]) =>
    Object.keys(ops)
      .filter((m) => ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'].includes(m))
      .map((m) => `${m.toUpperCase()} ${p.replace(/\{([A-Za-z]+)\}/g, ':$1')}`),
  );
}

/** Routes of the management router that the document does not list, and documented ones the router lacks. */
function compareRoutes(router: unknown, doc: Json): { undocumented: string[]; unrouted: string[] } {
  // The document itself is served by the router but is not one of the operations it describes.
  const routed = expressRoutes(router, '/api/v1').filter((r) => r !== 'GET /api/v1/openapi.json');
  const documented = documentedRoutes(doc);
  return { undocumented: routed.filter((r) => !documented.includes(r)), unrouted: documented.filter((r) => !routed.includes(r)) };
}

/** A local TCP port with nothing listening on it (bound by the OS, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const oneLine = (r: CliResult) => r.stderr.trim().split('\n');

describe('management API and management CLI (one connector process)', () => {
  const tmp = tempDir();
  let node: RunningNode | undefined;
  let apiKey: string;
  let dspUrl: string;

  /** Call the management API; `key: null` sends no key. */
  async function api(method: 'GET' | 'POST' | 'DELETE', p: string, body?: unknown, key: string | null = apiKey): Promise<{ status: number; body: any; text: string }> {
    const res = await request(`${node!.managementUrl}${p}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.statusCode, body: parsed, text };
  }

  /** Run a management CLI command against the node. */
  function cli(args: string[], env: Record<string, string> = {}): CliResult {
    return runCli(args, { cwd: tmp.dir, env: { HEDGEROW_API_KEY: apiKey, HEDGEROW_MANAGEMENT_URL: node!.managementUrl, ...env } });
  }

  beforeAll(async () => {
    const init = runCli(['init', '--participant-id', PARTICIPANT, '--hostname', 'localhost', '--organization', 'Coop Example', '--country', 'FR'], { cwd: tmp.dir });
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    node = await startNode({ cwd: tmp.dir, env: { HEDGEROW_DSP_ALLOWED_ADDRESSES: JSON.stringify(['localhost', '127.0.0.1']) } });
    dspUrl = `${node.publicUrl}/dsp/2025-1`;
  });

  afterAll(async () => {
    await node?.stop('SIGKILL');
    tmp.cleanup();
  });

  const openPolicy = { permission: [{ action: 'use' }] };
  const deniedPolicy = { permission: [{ action: 'use', constraint: [{ leftOperand: 'membership', operator: 'eq', rightOperand: 'coop-nobody' }] }] };

  describe('resources through the HTTP API', () => {
    it('creates, gets and lists policies, assets and offers', async () => {
      const policy = await api('POST', '/api/v1/policies', { id: 'http-open', title: 'Open use', policy: openPolicy });
      expect(policy.status).toBe(201);
      expect(policy.body).toMatchObject({ id: 'http-open', title: 'Open use', policy: openPolicy });

      const file = await api('POST', '/api/v1/assets', { id: 'http-file', title: 'Parcel yields', keywords: ['yield'], contentType: 'text/csv', source: { type: 'file', path: 'yields.csv' } });
      expect(file.status).toBe(201);
      expect(file.body).toMatchObject({ id: 'http-file', title: 'Parcel yields', keywords: ['yield'], contentType: 'text/csv', source: { type: 'file', path: 'yields.csv' } });

      const backend = await api('POST', '/api/v1/assets', {
        id: 'http-backend',
        title: 'Weather station',
        source: { type: 'http', url: 'https://erp.coop.example/weather', headers: { Authorization: SECRET } },
      });
      expect(backend.status).toBe(201);
      expect(backend.text).not.toContain(SECRET);
      expect(backend.body.source).toEqual({ type: 'http', url: 'https://erp.coop.example/weather', hasCredentials: true });

      const offer = await api('POST', '/api/v1/offers', { id: 'http-offer', accessPolicyId: 'http-open', contractPolicyId: 'http-open', assetIds: ['http-file', 'http-backend'] });
      expect(offer.status).toBe(201);
      expect(offer.body).toMatchObject({ id: 'http-offer', accessPolicyId: 'http-open', contractPolicyId: 'http-open', assetIds: ['http-file', 'http-backend'] });

      expect((await api('GET', '/api/v1/policies/http-open')).body).toMatchObject({ id: 'http-open' });
      expect((await api('GET', '/api/v1/offers/http-offer')).body.assetIds.sort()).toEqual(['http-backend', 'http-file']);
      expect((await api('GET', '/api/v1/assets')).body.map((a: Json) => a.id)).toEqual(expect.arrayContaining(['http-file', 'http-backend']));
      expect((await api('GET', '/api/v1/policies')).body.map((p: Json) => p.id)).toContain('http-open');
      expect((await api('GET', '/api/v1/offers')).body.map((o: Json) => o.id)).toContain('http-offer');
    });

    it('never returns the backend credentials of an http asset', async () => {
      const one = await api('GET', '/api/v1/assets/http-backend');
      expect(one.status).toBe(200);
      expect(one.text).not.toContain(SECRET);
      expect(one.text).not.toContain('s3cret');
      expect(one.body.source).toEqual({ type: 'http', url: 'https://erp.coop.example/weather', hasCredentials: true });
      const all = await api('GET', '/api/v1/assets');
      expect(all.text).not.toContain('s3cret');
      expect(node!.logs.join('\n')).not.toContain('s3cret');
    });

    it.each<[string, string, Json, string, RegExp]>([
      ['an asset without source', '/api/v1/assets', { id: 'no-source', title: 'x' }, '/source', /required/],
      ['an unknown field', '/api/v1/assets', { id: 'x1', source: { type: 'file', path: 'a' }, colour: 'red' }, '/colour', /unknown field/],
      ['an unknown field in the source', '/api/v1/assets', { id: 'x2', source: { type: 'file', path: 'a', extra: 1 } }, '/source/extra', /unknown field/],
      ['an id with a colon', '/api/v1/assets', { id: 'a:b', source: { type: 'file', path: 'a' } }, '/id', /pattern/],
      ['a policy rule without action', '/api/v1/policies', { id: 'p1', policy: { permission: [{}] } }, '/policy/permission/0', /action/],
      [
        'a constraint with an unknown left operand',
        '/api/v1/policies',
        { id: 'p2', policy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'no-such-operand', operator: 'eq', rightOperand: 'x' }] }] } },
        '/policy/permission/0/constraint/0',
        /no-such-operand/,
      ],
      ['an offer of a missing asset', '/api/v1/offers', { id: 'o1', accessPolicyId: 'http-open', contractPolicyId: 'http-open', assetIds: ['http-file', 'nope'] }, '/assetIds/1', /does not exist/],
      ['an offer without assets', '/api/v1/offers', { id: 'o2', accessPolicyId: 'http-open', contractPolicyId: 'http-open', assetIds: [] }, '/assetIds', /fewer than 1/],
    ])('refuses %s with 400 and the field path', async (_what, p, body, fieldPath, message) => {
      const res = await api('POST', p, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.path).toBe(fieldPath);
      expect(res.body.error.message.startsWith(`${fieldPath}: `)).toBe(true);
      expect(res.body.error.message).toMatch(message);
    });

    it('refuses malformed JSON with 400', async () => {
      const res = await api('POST', '/api/v1/assets', '{"id": ');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_JSON');
    });

    it('refuses a deeply nested body with 400 before anything recursive sees it', async () => {
      const constraint = '{"and":['.repeat(3000) + '{"leftOperand":"purpose","operator":"eq","rightOperand":"x"}' + ']}'.repeat(3000);
      const res = await api(
        'POST',
        '/api/v1/negotiations',
        `{"counterPartyAddress":"${dspUrl}","counterPartyId":"${PARTICIPANT}","offer":{"@id":"a:b:c","@type":"Offer","target":"b","permission":[{"action":"use","constraint":[${constraint}]}]}}`,
      );
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', message: 'JSON nested deeper than 128 levels' });
      expect(node!.logs.join('\n')).not.toContain('Maximum call stack');
    });

    it('answers 409 for a duplicate id', async () => {
      for (const [p, body] of [
        ['/api/v1/policies', { id: 'http-open', policy: openPolicy }],
        ['/api/v1/assets', { id: 'http-file', source: { type: 'file', path: 'other.csv' } }],
        ['/api/v1/offers', { id: 'http-offer', accessPolicyId: 'http-open', contractPolicyId: 'http-open', assetIds: ['http-file'] }],
      ] as const) {
        const res = await api('POST', p, body);
        expect(res.status).toBe(409);
        expect(res.body.error).toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringMatching(/already exists/) });
      }
      // The original is untouched.
      expect((await api('GET', '/api/v1/assets/http-file')).body.source).toEqual({ type: 'file', path: 'yields.csv' });
    });

    it('answers 404 for an unknown id', async () => {
      for (const p of ['/assets/nope', '/policies/nope', '/offers/nope', '/negotiations/nope', '/agreements/nope']) {
        const res = await api('GET', `/api/v1${p}`);
        expect(res.status).toBe(404);
        expect(res.body.error.message).toMatch(/not found/);
      }
      expect((await api('DELETE', '/api/v1/assets/nope')).status).toBe(404);
      expect((await api('POST', '/api/v1/offers', { accessPolicyId: 'nope', contractPolicyId: 'http-open', assetIds: ['http-file'] })).status).toBe(404);
    });

    it('refuses to delete a policy or an asset used by an offer (409), and deletes them once the offer is gone', async () => {
      expect(await api('POST', '/api/v1/policies', { id: 'short-lived', policy: openPolicy })).toMatchObject({ status: 201 });
      expect(await api('POST', '/api/v1/assets', { id: 'short-asset', source: { type: 'file', path: 's.csv' } })).toMatchObject({ status: 201 });
      expect(await api('POST', '/api/v1/offers', { id: 'short-offer', accessPolicyId: 'http-open', contractPolicyId: 'short-lived', assetIds: ['short-asset'] })).toMatchObject({ status: 201 });

      const policy = await api('DELETE', '/api/v1/policies/short-lived');
      expect(policy.status).toBe(409);
      expect(policy.body.error).toMatchObject({ code: 'IN_USE', message: expect.stringMatching(/used by an offer/) });
      const asset = await api('DELETE', '/api/v1/assets/short-asset');
      expect(asset.status).toBe(409);
      expect(asset.body.error.code).toBe('IN_USE');
      expect((await api('GET', '/api/v1/policies/short-lived')).status).toBe(200);

      expect((await api('DELETE', '/api/v1/offers/short-offer')).status).toBe(204);
      expect((await api('DELETE', '/api/v1/policies/short-lived')).status).toBe(204);
      expect((await api('DELETE', '/api/v1/assets/short-asset')).status).toBe(204);
      expect((await api('GET', '/api/v1/policies/short-lived')).status).toBe(404);
    });

    it('requires the API key', async () => {
      for (const key of [null, 'hr_not-a-key']) {
        const res = await api('GET', '/api/v1/assets', undefined, key);
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHENTICATED');
      }
    });
  });

  describe('OpenAPI document', () => {
    // Built in this process from the same sources; handlers are never called, so the dependencies are unused.
    const localRouter = () => createManagementApi({ store: {} as never, dataspace: {} as never, logger: {} as never, dataRoot: '.' });
    let doc: Json;

    beforeAll(async () => {
      const res = await api('GET', '/api/v1/openapi.json');
      expect(res.status).toBe(200);
      doc = res.body;
    });

    it('is OpenAPI 3.1 with the API key scheme and an Error schema', () => {
      expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
      expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
      expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(doc.components.schemas.Error).toBeDefined();
      expect(Object.keys(doc.paths).length).toBeGreaterThan(10);
    });

    it('documents every route of the express router with the same method and path, and nothing else', () => {
      const router = localRouter();
      const routed = expressRoutes(router, '/api/v1');
      // Sanity: the walk sees the nested route-table router, not just the openapi.json route.
      expect(routed.length).toBe(managementRoutes({ store: {} as never, dataspace: {} as never, logger: {} as never, dataRoot: '.' }).length + 1);
      expect(routed).toEqual(expect.arrayContaining(['GET /api/v1/assets', 'DELETE /api/v1/policies/:id', 'POST /api/v1/negotiations/:id/terminate']));
      expect(compareRoutes(router, doc)).toEqual({ undocumented: [], unrouted: [] });
      // Every documented path parameter is declared.
      for (const [p, ops] of Object.entries(doc.paths as Record<string, Json>)) {
        const names = [...p.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]);
        for (const op of Object.values(ops)) expect((op.parameters ?? []).filter((x: Json) => x.in === 'path').map((x: Json) => x.name)).toEqual(names);
      }
    });

    it('the check catches a route added without documentation', () => {
      const router = localRouter();
      const extra = Router();
      extra.get('/undocumented/:id', (_req, res) => {
        res.end();
      });
      router.use(extra);
      router.post('/also-undocumented', (_req, res) => {
        res.end();
      });
      expect(compareRoutes(router, doc).undocumented).toEqual(['GET /api/v1/undocumented/:id', 'POST /api/v1/also-undocumented']);
    });

    it('every documented operation is routed by the running connector (401 without key, never "no route" with it)', async () => {
      // The discriminator: an unknown path answers 404 "no route for".
      const missing = await api('GET', '/api/v1/no-such-route');
      expect(missing.status).toBe(404);
      expect(missing.body.error.message).toMatch(/^no route for /);

      for (const route of documentedRoutes(doc)) {
        const [method, template] = route.split(' ') as ['GET' | 'POST' | 'DELETE', string];
        const p = template.replace(/:([A-Za-z]+)/g, 'no-such-$1');
        // POST bodies are empty objects: refused by validation or by the unknown id, so nothing is changed.
        const body = method === 'POST' ? {} : undefined;
        const anonymous = await api(method, p, body, null);
        expect({ route, status: anonymous.status }).toEqual({ route, status: 401 });
        const keyed = await api(method, p, body);
        expect({ route, noRoute: keyed.status === 404 && /^no route for /.test(keyed.body?.error?.message ?? '') }).toEqual({ route, noRoute: false });
        expect({ route, status: keyed.status < 500 }).toEqual({ route, status: true });
      }
    });
  });

  describe('the management CLI', () => {
    it('adds and lists policies, assets and offers', () => {
      const policyFile = path.join(tmp.dir, 'open-policy.json');
      fs.writeFileSync(policyFile, JSON.stringify(openPolicy));
      const p1 = cli(['policy', 'add', '--id', 'cli-open', '--title', 'Open (CLI)', '--file', policyFile]);
      expect(p1).toMatchObject({ status: 0, stderr: '' });
      expect(p1.stdout).toMatch(/added policy cli-open: 1 permission/);
      expect(cli(['policy', 'add', '--id', 'cli-denied', '--json', JSON.stringify(deniedPolicy)])).toMatchObject({ status: 0, stderr: '' });

      const a1 = cli(['asset', 'add', '--id', 'cli-file', '--title', 'Soil samples', '--keyword', 'soil', '--keyword', 'lab', '--content-type', 'text/csv', '--file', 'soil.csv']);
      expect(a1).toMatchObject({ status: 0, stderr: '' });
      expect(a1.stdout).toMatch(/added asset cli-file: file soil\.csv/);
      const a2 = cli(['asset', 'add', '--id', 'cli-backend', '--title', 'Herd register', '--originator', 'farm-7', '--url', 'https://erp.coop.example/herd', '--header', `X-Api-Token: ${CLI_SECRET}`]);
      expect(a2).toMatchObject({ status: 0, stderr: '' });
      expect(a2.stdout).toMatch(/added asset cli-backend: http https:\/\/erp\.coop\.example\/herd \(with credentials\)/);
      expect(a2.stdout).not.toContain(CLI_SECRET);
      expect(cli(['asset', 'add', '--id', 'cli-private', '--title', 'Private', '--file', 'private.csv'])).toMatchObject({ status: 0 });

      const o1 = cli(['offer', 'add', '--id', 'cli-offer', '--access-policy', 'cli-open', '--contract-policy', 'cli-open', '--asset', 'cli-file', '--asset', 'cli-backend']);
      expect(o1).toMatchObject({ status: 0, stderr: '' });
      expect(o1.stdout).toMatch(/added offer cli-offer: cli-file, cli-backend/);
      expect(cli(['offer', 'add', '--id', 'cli-denied-offer', '--access-policy', 'cli-open', '--contract-policy', 'cli-denied', '--asset', 'cli-private'])).toMatchObject({ status: 0 });

      const assets = cli(['asset', 'list']);
      expect(assets.status).toBe(0);
      expect(assets.stdout.split('\n')[0]).toMatch(/^ID\s+TITLE\s+CONTENT TYPE\s+SOURCE$/);
      expect(assets.stdout).toMatch(/^cli-file\s+Soil samples\s+text\/csv\s+file soil\.csv$/m);
      expect(assets.stdout).toMatch(/^http-backend\s+Weather station\s+http https:\/\/erp\.coop\.example\/weather \(with credentials\)$/m);
      const assetsJson = cli(['asset', 'list', '--json']);
      expect(assetsJson.status).toBe(0);
      expect(assetsJson.stdout).not.toContain(CLI_SECRET);
      expect(assetsJson.stdout).not.toContain('s3cret');
      const listed = JSON.parse(assetsJson.stdout) as Json[];
      expect(listed.map((a) => a.id)).toEqual(['cli-backend', 'cli-file', 'cli-private', 'http-backend', 'http-file']);
      expect(listed.find((a) => a.id === 'cli-file')).toMatchObject({ keywords: ['soil', 'lab'], contentType: 'text/csv' });
      expect(listed.find((a) => a.id === 'cli-backend')).toMatchObject({ originator: 'farm-7', source: { type: 'http', hasCredentials: true } });

      const policies = cli(['policy', 'list']);
      expect(policies.stdout).toMatch(/^cli-open\s+Open \(CLI\)\s+1 permission\s+\S+$/m);
      expect(policies.stdout).toMatch(/^http-open\s+Open use\s+1 permission/m);
      expect((JSON.parse(cli(['policy', 'list', '--json']).stdout) as Json[]).map((p) => p.id)).toEqual(['cli-denied', 'cli-open', 'http-open']);

      const offers = cli(['offer', 'list']);
      expect(offers.stdout).toMatch(/^cli-offer\s+cli-open\s+cli-open\s+(cli-file, cli-backend|cli-backend, cli-file)$/m);
      expect(offers.stdout).toMatch(/^http-offer\s+http-open\s+http-open\s+/m);
      expect((JSON.parse(cli(['offer', 'list', '--json']).stdout) as Json[]).map((o) => o.id)).toEqual(['cli-denied-offer', 'cli-offer', 'http-offer']);
    });

    it('shows the field path of a refused policy (exit 65, one line)', () => {
      const bad = cli(['policy', 'add', '--id', 'cli-bad', '--json', JSON.stringify({ permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq' }] }] })]);
      expect(bad.status).toBe(65);
      expect(oneLine(bad)).toHaveLength(1);
      expect(bad.stderr).toMatch(/^hedgerow: \/policy\/permission\/0\/constraint\/0: .*rightOperand/);
      const unknownField = cli(['asset', 'add', '--id', 'has:colon', '--title', 't', '--file', 'x']);
      expect(unknownField.status).toBe(65);
      expect(unknownField.stderr).toMatch(/^hedgerow: \/id: /);
    });

    it('maps duplicates to 73 and unknown ids to 66', () => {
      const dup = cli(['policy', 'add', '--id', 'cli-open', '--json', JSON.stringify(openPolicy)]);
      expect(dup.status).toBe(73);
      expect(oneLine(dup)).toEqual(['hedgerow: policy cli-open already exists']);
      const missing = cli(['offer', 'add', '--id', 'x-offer', '--access-policy', 'no-such-policy', '--contract-policy', 'cli-open', '--asset', 'cli-file']);
      expect(missing.status).toBe(66);
      expect(oneLine(missing)).toEqual(['hedgerow: policy no-such-policy not found']);
      const negotiation = cli(['negotiations', 'no-such-negotiation']);
      expect(negotiation.status).toBe(66);
      expect(oneLine(negotiation)).toEqual(['hedgerow: negotiation no-such-negotiation not found']);
    });

    it('refuses bad input before calling the API (exit 64, one line)', () => {
      for (const args of [
        ['asset', 'add', '--id', 'x', '--title', 't'],
        ['asset', 'add', '--id', 'x', '--title', 't', '--file', 'a', '--url', 'https://b'],
        ['asset', 'add', '--title', 't', '--file', 'a'],
        ['asset', 'add', '--id', 'x', '--title', 't', '--url', 'https://b', '--header', 'no colon here'],
        ['asset', 'add', '--id', 'x', '--title', 't', '--file', 'a', '--header', 'A: b'],
        ['policy', 'add', '--id', 'x'],
        ['offer', 'add', '--id', 'x', '--access-policy', 'cli-open'],
        ['catalog', 'http://insecure.example/dsp', '--provider-id', 'x'],
        ['catalog', dspUrl],
        ['negotiate', dspUrl, 'offer-1'],
        ['negotiate', dspUrl, 'offer-1', '--provider-id', PARTICIPANT, '--timeout', 'soon'],
        ['negotiations', '--state', 'DONE'],
        ['negotiations', '--role', 'broker'],
        ['asset', 'list', '--no-such-flag'],
      ]) {
        const r = cli(args);
        expect({ args, status: r.status, lines: oneLine(r).length }).toEqual({ args, status: 64, lines: 1 });
        expect(r.stderr).toMatch(/^hedgerow: /);
      }
    });

    it('has --help for every management command', () => {
      for (const cmd of [['asset', 'add'], ['asset', 'list'], ['policy', 'add'], ['policy', 'list'], ['offer', 'add'], ['offer', 'list'], ['catalog'], ['negotiate'], ['negotiations']]) {
        const r = runCli([...cmd, '--help'], { cwd: tmp.dir });
        expect(r.status).toBe(0);
        expect(r.stdout).toContain(`usage: hedgerow ${cmd.join(' ')}`);
        expect(r.stdout).toContain('--management-url');
        expect(r.stdout).toContain('HEDGEROW_API_KEY');
      }
    });

    it('lists the catalog of a provider with offer ids, as a table or raw JSON', () => {
      const table = cli(['catalog', dspUrl, '--provider-id', PARTICIPANT]);
      expect(table).toMatchObject({ status: 0, stderr: '' });
      expect(table.stdout).toMatch(new RegExp(`^catalog of ${PARTICIPANT}: 5 datasets$`, 'm'));
      expect(table.stdout).toMatch(/^DATASET\s+TITLE\s+OFFER ID$/m);
      expect(table.stdout).toMatch(/^cli-file\s+Soil samples\s+cli-offer:\S+$/m);

      const raw = cli(['catalog', dspUrl, '--provider-id', PARTICIPANT, '--json']);
      expect(raw.status).toBe(0);
      const catalog = JSON.parse(raw.stdout) as Json;
      expect(catalog['@type']).toBe('Catalog');
      expect((catalog.dataset as Json[]).map((d) => d['@id']).sort()).toEqual(['cli-backend', 'cli-file', 'cli-private', 'http-backend', 'http-file']);
      expect(raw.stdout).not.toContain(CLI_SECRET);
    });

    it('reports an unreachable provider as one line, exit 1', () => {
      const r = cli(['catalog', 'https://localhost:1/dsp/2025-1', '--provider-id', PARTICIPANT]);
      expect(r.status).toBe(1);
      expect(oneLine(r)).toHaveLength(1);
    });

    function offerIdFor(dataset: string, offerPrefix: string): string {
      const catalog = JSON.parse(cli(['catalog', dspUrl, '--provider-id', PARTICIPANT, '--json']).stdout) as Json;
      const ds = (catalog.dataset as Json[]).find((d) => d['@id'] === dataset)!;
      return (ds.hasPolicy as Json[]).map((o) => o['@id'] as string).find((id) => id.startsWith(`${offerPrefix}:`))!;
    }

    it('negotiates an offer to FINALIZED and prints the agreement (exit 0)', () => {
      const offerId = offerIdFor('cli-file', 'cli-offer');
      const r = cli(['negotiate', dspUrl, offerId, '--provider-id', PARTICIPANT, '--dataset', 'cli-file', '--timeout', '30']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^negotiation \S+ FINALIZED$/m);
      const agreementId = /^agreement (\S+)$/m.exec(r.stdout)![1]!;
      expect(r.stdout).toContain('"@type": "Agreement"');
      expect(r.stdout).toContain('"target": "cli-file"');

      const json = cli(['negotiations', '--role', 'consumer', '--state', 'finalized', '--json']);
      const consumer = (JSON.parse(json.stdout) as Json[]).find((n) => n.agreementId === agreementId)!;
      expect(consumer).toMatchObject({ role: 'consumer', state: 'FINALIZED', counterpartyId: PARTICIPANT, assetId: 'cli-file' });

      const list = cli(['negotiations']);
      expect(list.status).toBe(0);
      expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+ROLE\s+STATE\s+COUNTERPARTY\s+ASSET\s+UPDATED$/);
      expect(list.stdout).toMatch(new RegExp(`^${consumer.id}\\s+consumer\\s+FINALIZED\\s+${PARTICIPANT}\\s+cli-file\\s+\\S+$`, 'm'));
      expect(list.stdout).toMatch(/^\S+\s+provider\s+FINALIZED\s+/m);

      const one = cli(['negotiations', consumer.id]);
      expect(one.status).toBe(0);
      expect(one.stdout).toMatch(/^state:\s+FINALIZED$/m);
      expect(one.stdout).toMatch(new RegExp(`^agreement:\\s+${agreementId}$`, 'm'));
      expect(one.stdout).toMatch(/^ {2}\S+Z\s+transition\s+ContractRequestMessage\s+-→REQUESTED/m);
      expect(one.stdout).toMatch(/→FINALIZED/);
    });

    it('reports a terminated negotiation with its reasons (exit 1)', () => {
      const offerId = offerIdFor('cli-private', 'cli-denied-offer');
      const r = cli(['negotiate', dspUrl, offerId, '--provider-id', PARTICIPANT, '--timeout', '30']);
      expect(r.status).toBe(1);
      expect(oneLine(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/^hedgerow: negotiation \S+ was terminated: .*coop-nobody/);
      expect(r.stdout).toMatch(/^negotiation \S+ TERMINATED$/m);
      expect(r.stdout).toMatch(/^reason: .*membership eq coop-nobody/m);
      expect(r.stdout).toMatch(/POLICY_DENIED/);

      const provider = (JSON.parse(cli(['negotiations', '--role', 'provider', '--state', 'TERMINATED', '--json']).stdout) as Json[])[0]!;
      const timeline = cli(['negotiations', provider.id]);
      expect(timeline.stdout).toMatch(/^ {2}\S+Z\s+decision\s+in REQUESTED\s+policy: DENIED, reason: .*coop-nobody/m);
    });
  });

  describe('CLI errors without a usable connector', () => {
    it('needs HEDGEROW_API_KEY (exit 64, says how to get one)', () => {
      const r = runCli(['asset', 'list'], { cwd: tmp.dir, env: { HEDGEROW_MANAGEMENT_URL: node!.managementUrl } });
      expect(r.status).toBe(64);
      expect(oneLine(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/HEDGEROW_API_KEY is not set.*hedgerow apikey create/);
    });

    it('rejects a wrong API key (exit 77)', () => {
      const r = cli(['asset', 'list'], { HEDGEROW_API_KEY: 'hr_wrong' });
      expect(r.status).toBe(77);
      expect(oneLine(r)).toEqual(['hedgerow: invalid API key (check HEDGEROW_API_KEY; create a key with "hedgerow apikey create")']);
    });

    it('says so when no connector is running (exit 1), with the URL from the flag, the environment or the configuration', async () => {
      const port = await closedPort();
      const expected = `hedgerow: no hedgerow running at http://127.0.0.1:${port} (start it with "hedgerow start")`;
      const viaEnv = cli(['asset', 'list'], { HEDGEROW_MANAGEMENT_URL: `http://127.0.0.1:${port}` });
      expect(viaEnv.status).toBe(1);
      expect(oneLine(viaEnv)).toEqual([expected]);
      const viaFlag = cli(['negotiations', '--management-url', `http://127.0.0.1:${port}/`]);
      expect(oneLine(viaFlag)).toEqual([expected]);
      // From the configuration: a wildcard listen address is reached on loopback.
      const viaConfig = runCli(['offer', 'list'], { cwd: tmp.dir, env: { HEDGEROW_API_KEY: apiKey, HEDGEROW_MANAGEMENT_API_HOST: '0.0.0.0', HEDGEROW_MANAGEMENT_API_PORT: String(port) } });
      expect(viaConfig.status).toBe(1);
      expect(oneLine(viaConfig)).toEqual([expected]);
    });

    it('finds the running connector from the configuration', () => {
      const port = new URL(node!.managementUrl).port;
      const r = runCli(['policy', 'list'], { cwd: tmp.dir, env: { HEDGEROW_API_KEY: apiKey, HEDGEROW_MANAGEMENT_API_PORT: port } });
      expect(r).toMatchObject({ status: 0, stderr: '' });
      expect(r.stdout).toContain('cli-open');
    });

    it('rejects a policy file that is not JSON (exit 65) or missing (exit 66), before calling the API', async () => {
      const port = await closedPort(); // nothing listens: the file is checked first
      const file = path.join(tmp.dir, 'broken-policy.json');
      fs.writeFileSync(file, '{"permission": [ {"action": "use" ');
      const bad = cli(['policy', 'add', '--id', 'p', '--file', file], { HEDGEROW_MANAGEMENT_URL: `http://127.0.0.1:${port}` });
      expect(bad.status).toBe(65);
      expect(oneLine(bad)).toHaveLength(1);
      expect(bad.stderr).toMatch(new RegExp(`^hedgerow: policy file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON: `));
      fs.writeFileSync(file, '[1, 2]');
      const notObject = cli(['policy', 'add', '--id', 'p', '--file', file]);
      expect(notObject.status).toBe(65);
      expect(notObject.stderr).toMatch(/must hold a JSON object/);
      const inline = cli(['policy', 'add', '--id', 'p', '--json', '{permission']);
      expect(inline.status).toBe(65);
      expect(oneLine(inline)[0]).toMatch(/^hedgerow: --json is not valid JSON: /);
      const missing = cli(['policy', 'add', '--id', 'p', '--file', path.join(tmp.dir, 'nope.json')]);
      expect(missing.status).toBe(66);
      expect(oneLine(missing)[0]).toMatch(/^hedgerow: policy file .*nope\.json does not exist$/);
    });
  });
});

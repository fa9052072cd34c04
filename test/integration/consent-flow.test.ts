import fs from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { runCli, startNode, tempDir, type CliResult, type RunningNode } from '../helpers/cli';

/**
 * Farmer consent end to end on ONE real connector process: the management API and CLI request consents,
 * the farmer answers on the approval page of the public HTTPS listener, groups are managed through
 * the API and CLI.
 */

type Json = Record<string, any>;

const PARTICIPANT = 'did:web:coop.example';
const FARM = 'farm:FR-3561';
const ADVISOR = 'did:web:advisor.example';
const EVIL = `<script>alert("pwned")</script>`;

describe('farmer consent (one connector process)', () => {
  const tmp = tempDir();
  let node: RunningNode | undefined;
  let apiKey: string;
  let agent: Agent;

  async function api(method: 'GET' | 'POST' | 'DELETE', p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await request(`${node!.managementUrl}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  /** A request to the public listener (HTTPS, development CA). */
  async function page(method: 'GET' | 'POST' | 'PUT', url: string, form?: string, contentType = 'application/x-www-form-urlencoded') {
    const res = await request(url, {
      method,
      dispatcher: agent,
      headers: form !== undefined ? { 'content-type': contentType } : {},
      body: form,
    });
    return { status: res.statusCode, headers: res.headers, html: await res.body.text() };
  }

  function cli(args: string[]): CliResult {
    return runCli(args, { cwd: tmp.dir, env: { HEDGEROW_API_KEY: apiKey, HEDGEROW_MANAGEMENT_URL: node!.managementUrl } });
  }

  const requestConsent = async (over: Json = {}) => {
    const res = await api('POST', '/consents', { originator: FARM, purpose: 'agronomic-advice', beneficiary: ADVISOR, category: 'parcel-yields', ...over });
    expect(res.status).toBe(201);
    return res.body as { consent: Json; approvalUrl: string; approvalExpiresAt: string };
  };

  beforeAll(async () => {
    const init = runCli(['init', '--participant-id', PARTICIPANT, '--hostname', 'localhost', '--organization', 'Coop Example', '--country', 'FR'], { cwd: tmp.dir });
    expect(init.status).toBe(0);
    apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    node = await startNode({ cwd: tmp.dir });
    agent = new Agent({ connect: { ca: fs.readFileSync(path.join(tmp.dir, 'certs', 'dev-ca', 'ca.crt.pem')) } });
  });

  afterAll(async () => {
    await agent?.close();
    await node?.stop('SIGKILL');
    tmp.cleanup();
  });

  describe('approval page over HTTPS', () => {
    it('shows the request with every value escaped, under a strict CSP, and records the grant once', async () => {
      const { consent, approvalUrl, approvalExpiresAt } = await requestConsent({ beneficiary: `did:web:${EVIL}`, purpose: `advice "${EVIL}"`, validUntil: '2099-12-31' });
      expect(approvalUrl.startsWith(`${node!.publicUrl}/consent/${consent.id}.`)).toBe(true);
      expect(approvalExpiresAt).toBe(consent.approvalExpiresAt);

      const shown = await page('GET', approvalUrl);
      expect(shown.status).toBe(200);
      expect(shown.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(shown.headers['cache-control']).toBe('no-store');
      expect(shown.headers['referrer-policy']).toBe('no-referrer');
      expect(shown.headers['x-content-type-options']).toBe('nosniff');
      expect(String(shown.headers['content-security-policy'])).toMatch(/^default-src 'none'; style-src 'sha256-[^']+'; form-action 'self'; frame-ancestors 'none'/);
      expect(shown.html).not.toContain('<script');
      expect(shown.html).toContain('did:web:&#60;script&#62;alert(&#34;pwned&#34;)&#60;/script&#62;');
      expect(shown.html).toContain('Coop Example (did:web:coop.example)');
      expect(shown.html).toContain(FARM);
      expect(shown.html).toContain('parcel-yields');
      expect(shown.html).toContain('value="grant"');

      const granted = await page('POST', approvalUrl, 'decision=grant');
      expect(granted.status).toBe(200);
      expect(granted.html).toContain('consent granted');
      expect(granted.html).not.toContain('<script');
      expect(granted.headers['cache-control']).toBe('no-store');

      const replay = await page('POST', approvalUrl, 'decision=refuse');
      expect(replay.status).toBe(409);
      expect(replay.html).toContain('already been answered');

      const again = await page('GET', approvalUrl);
      expect(again.status).toBe(409);

      const stored = await api('GET', `/consents/${consent.id}`);
      expect(stored.body.status).toBe('granted');
      expect(stored.body.history.map((h: Json) => [h.status, h.actor])).toEqual([
        ['pending', 'operator'],
        ['granted', FARM],
      ]);
    });

    it('a refusal through the page', async () => {
      const { consent, approvalUrl } = await requestConsent();
      const refused = await page('POST', approvalUrl, 'decision=refuse');
      expect(refused.status).toBe(200);
      expect(refused.html).toContain('Consent refused');
      expect((await api('GET', `/consents/${consent.id}`)).body.status).toBe('refused');
    });

    it('a missing or unknown decision changes nothing (400), neither does a JSON body', async () => {
      const { consent, approvalUrl } = await requestConsent();
      for (const [form, type] of [
        ['', 'application/x-www-form-urlencoded'],
        ['decision=maybe', 'application/x-www-form-urlencoded'],
        ['decision=grant&decision=refuse', 'application/x-www-form-urlencoded'],
        ['{"decision":"grant"}', 'application/json'],
      ] as const) {
        const res = await page('POST', approvalUrl, form, type);
        expect(res.status).toBe(400);
        expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      }
      const tooBig = await page('POST', approvalUrl, `decision=grant&x=${'a'.repeat(5000)}`);
      expect(tooBig.status).toBe(413);
      expect(tooBig.html).toContain('<!DOCTYPE html>');
      expect((await api('GET', `/consents/${consent.id}`)).body.status).toBe('pending');
    });

    it('wrong, unknown or malformed tokens get a 404 page, never a stack trace', async () => {
      const { consent, approvalUrl } = await requestConsent();
      const secret = approvalUrl.split('.').pop()!;
      for (const token of [`${consent.id}.${'A'.repeat(43)}`, `00000000-0000-4000-8000-000000000000.${secret}`, 'nothing-here', `${consent.id}`, `..%2F..%2Fetc%2Fpasswd`]) {
        for (const method of ['GET', 'POST'] as const) {
          const res = await page(method, `${node!.publicUrl}/consent/${token}`, method === 'POST' ? 'decision=grant' : undefined);
          expect(res.status).toBe(404);
          expect(res.html).toContain('Link not valid');
          expect(res.html).not.toMatch(/at .*\.js:\d+|Error:/);
        }
      }
      const malformed = await page('GET', `${node!.publicUrl}/consent/%E0%A4%A`);
      expect(malformed.status).toBeGreaterThanOrEqual(400);
      expect(malformed.status).toBeLessThan(500);
      expect(malformed.html).not.toMatch(/at .*\.js:\d+/);
      expect((await api('GET', `/consents/${consent.id}`)).body.status).toBe('pending');
    });
  });

  describe('management API', () => {
    it.each<[Json, string]>([
      [{ purpose: undefined }, '/purpose'],
      [{ beneficiary: '' }, '/beneficiary'],
      [{ validUntil: 'tomorrow' }, '/validUntil'],
      [{ validUntil: '2001-01-01' }, '/validUntil'],
      [{ colour: 'green' }, '/colour'],
    ])('POST /consents %j is refused with 400 naming %s', async (over, field) => {
      const res = await api('POST', '/consents', { originator: FARM, purpose: 'p', beneficiary: ADVISOR, ...over });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.path).toBe(field);
    });

    it('lists with filters, grants, revokes with a reason, refuses illegal transitions with 409, unknown ids with 404', async () => {
      const { consent } = await requestConsent({ originator: 'farm:api-test', purpose: 'statistics' });
      expect((await api('GET', '/consents?originator=farm:api-test&status=pending')).body.map((c: Json) => c.id)).toEqual([consent.id]);
      expect((await api('GET', '/consents?originator=farm:api-test&status=granted')).body).toEqual([]);
      expect((await api('GET', '/consents?status=maybe')).status).toBe(400);

      const revokePending = await api('POST', `/consents/${consent.id}/revoke`, { reason: 'x' });
      expect(revokePending.status).toBe(409);
      expect(revokePending.body.error.message).toMatch(/only possible when it is granted/);

      expect((await api('POST', `/consents/${consent.id}/grant`, { reason: 'signed paper form' })).body.status).toBe('granted');
      const revoked = await api('POST', `/consents/${consent.id}/revoke`, { reason: 'farmer left the cooperative' });
      expect(revoked.status).toBe(200);
      expect(revoked.body.history.at(-1)).toMatchObject({ status: 'revoked', actor: 'operator', note: 'farmer left the cooperative' });
      expect((await api('POST', `/consents/${consent.id}/grant`, {})).status).toBe(409);
      expect((await api('POST', `/consents/${consent.id}/revoke`, { reason: 'x'.repeat(1001) })).status).toBe(400);
      expect((await api('GET', '/consents/no-such-consent')).status).toBe(404);
      expect((await api('POST', '/consents/no-such-consent/grant', {})).status).toBe(404);
    });

    it('groups: add, list, filter by participant, remove', async () => {
      expect((await api('POST', '/groups/coop-members/members', { participantId: 'did:web:farm1.example' })).status).toBe(201);
      expect((await api('POST', '/groups/coop-members/members', { participantId: 'did:web:farm1.example' })).status).toBe(409);
      expect((await api('POST', '/groups/coop-members/members', {})).body.error.details.path).toBe('/participantId');
      expect((await api('POST', `/groups/${encodeURIComponent('https://ministry.example/groups/statistics')}/members`, { participantId: 'did:web:farm1.example' })).status).toBe(201);
      expect((await api('GET', '/groups?participantId=did:web:farm1.example')).body.map((g: Json) => g.name)).toEqual(['coop-members', 'https://ministry.example/groups/statistics']);
      expect((await api('GET', '/groups/coop-members')).body.members.map((m: Json) => m.participantId)).toEqual(['did:web:farm1.example']);
      expect((await api('DELETE', `/groups/coop-members/members/${encodeURIComponent('did:web:farm1.example')}`)).status).toBe(204);
      expect((await api('DELETE', `/groups/coop-members/members/${encodeURIComponent('did:web:farm1.example')}`)).status).toBe(404);
      expect((await api('GET', '/groups/coop-members')).status).toBe(404);
    });

    it('the OpenAPI document describes the consent and group routes', async () => {
      const doc = await api('GET', '/openapi.json');
      for (const [p, m] of [
        ['/api/v1/consents', 'post'],
        ['/api/v1/consents', 'get'],
        ['/api/v1/consents/{id}', 'get'],
        ['/api/v1/consents/{id}/grant', 'post'],
        ['/api/v1/consents/{id}/refuse', 'post'],
        ['/api/v1/consents/{id}/revoke', 'post'],
        ['/api/v1/groups', 'get'],
        ['/api/v1/groups/{name}', 'get'],
        ['/api/v1/groups/{name}/members', 'post'],
        ['/api/v1/groups/{name}/members/{participantId}', 'delete'],
      ])
        expect(doc.body.paths[p!]?.[m!]).toBeDefined();
    });
  });

  describe('CLI', () => {
    it('consent request prints the approval link; grant, revoke, list, show', async () => {
      const requested = cli(['consent', 'request', '--originator', 'farm:cli', '--purpose', 'insurance', '--beneficiary', 'did:web:insurer.example', '--until', '2099-01-01']);
      expect(requested.stderr).toBe('');
      expect(requested.status).toBe(0);
      const id = /requested consent (\S+) \(pending\)/.exec(requested.stdout)![1]!;
      const url = requested.stdout.trim().split('\n').pop()!;
      expect(url.startsWith(`${node!.publicUrl}/consent/${id}.`)).toBe(true);
      expect((await page('GET', url)).status).toBe(200);

      const pendingList = cli(['consent', 'list', '--status', 'pending', '--json']);
      expect(pendingList.status).toBe(0);
      expect((JSON.parse(pendingList.stdout) as Json[]).map((c) => c.id)).toContain(id);

      const granted = cli(['consent', 'grant', id, '--reason', 'phone call']);
      expect(granted.status).toBe(0);
      expect(granted.stdout).toContain(`consent ${id} granted`);

      const table = cli(['consent', 'list', '--originator', 'farm:cli']);
      expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+ORIGINATOR/);
      expect(table.stdout).toMatch(new RegExp(`${id}\\s+granted\\s+farm:cli`));

      const revoked = cli(['consent', 'revoke', id, '--reason', 'withdrawn']);
      expect(revoked.status).toBe(0);
      expect(revoked.stdout).toContain('revoked');

      const shown = cli(['consent', 'show', id]);
      expect(shown.status).toBe(0);
      expect(shown.stdout).toMatch(/consent \S+: revoked/);
      expect(shown.stdout).toMatch(/granted\s+operator\s+phone call/);
      expect(shown.stdout).toMatch(/revoked\s+operator\s+withdrawn/);

      const again = cli(['consent', 'grant', id]);
      expect(again.status).toBe(73);
      expect(again.stderr).toMatch(/^hedgerow: consent \S+: the consent is revoked, a final status/);
    });

    it('usage and input errors have the documented exit codes', () => {
      expect(cli(['consent', 'request', '--originator', 'farm:x']).status).toBe(64);
      expect(cli(['consent', 'list', '--status', 'maybe']).status).toBe(64);
      const badDate = cli(['consent', 'request', '--originator', 'farm:x', '--purpose', 'p', '--beneficiary', 'b', '--until', 'someday']);
      expect(badDate.status).toBe(65);
      expect(badDate.stderr).toContain('/validUntil');
      expect(cli(['consent', 'revoke', 'no-such-consent']).status).toBe(66);
      expect(cli(['consent', 'grant']).status).toBe(64);
    });

    it('group add, list, remove', () => {
      expect(cli(['group', 'add', 'ministries', 'did:web:agri.gouv.example']).stdout).toContain('added did:web:agri.gouv.example to group ministries');
      expect(cli(['group', 'add', 'ministries', 'did:web:agri.gouv.example']).status).toBe(73);
      const list = cli(['group', 'list']);
      expect(list.status).toBe(0);
      expect(list.stdout).toMatch(/ministries\s+did:web:agri\.gouv\.example/);
      const mine = cli(['group', 'list', '--participant', 'did:web:agri.gouv.example', '--json']);
      expect((JSON.parse(mine.stdout) as Json[]).map((g) => g.name)).toEqual(['ministries']);
      expect(cli(['group', 'remove', 'ministries', 'did:web:agri.gouv.example']).status).toBe(0);
      expect(cli(['group', 'remove', 'ministries', 'did:web:agri.gouv.example']).status).toBe(66);
      expect(cli(['group', 'list', 'ministries']).status).toBe(66);
    });
  });
});

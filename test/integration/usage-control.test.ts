import crypto from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { tempDir } from '../helpers/cli';
import { loadCaDirectory } from '../../src/pki/ca-directory';
import { localhostTls } from '../helpers/tls';
import { api, coopAndAgro, eventually, killMembers, negotiateOffer, publishSample, startMember, type Member } from '../helpers/dataspace';

/**
 * Usage control after the handshake, between two connector processes: N-times usage, a validity
 * window that closes, purpose bound into the agreement, a delete duty that survives a consumer
 * restart and ends with a signed receipt stored by the provider.
 */
describe('usage control between two connector processes', () => {
  const tmp = tempDir();
  let provider: Member;
  let consumer: Member;
  let dsp: string;
  let agent: Agent;

  beforeAll(async () => {
    [provider, consumer] = coopAndAgro(tmp.dir, { coop: { config: { usage: { monitorSeconds: 1 } } } });
    await startMember(provider);
    await startMember(consumer);
    dsp = `https://localhost:${provider.node!.publicPort}/dsp/2025-1`;
    agent = new Agent({ connect: { ca: fs.readFileSync(path.join(tmp.dir, 'ca', 'ca.crt.pem')) } });
  });

  afterAll(async () => {
    await killMembers(provider, consumer);
    await agent?.close();
    tmp.cleanup();
  });

  const negotiate = (assetId: string, purpose?: string) => negotiateOffer(consumer, provider, dsp, assetId, { purpose });

  const transfer = (id: string, who: Member = consumer) => api(who, 'GET', `/transfers/${encodeURIComponent(id)}`);
  async function started(agreementId: string) {
    const t = await api(consumer, 'POST', '/transfers', { agreementId });
    await eventually(async () => (await transfer(t.id)).state === 'STARTED');
    return { id: t.id as string, target: await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}/data-address`) };
  }
  const pull = (target: { endpoint: string; authorization: string }, range = 'bytes=0-9') =>
    request(target.endpoint, { dispatcher: agent, headers: { authorization: target.authorization, range } });

  it('allows N uses (transfer processes), each resumable; refuses the next with 403 and terminates that transfer', async () => {
    await publishSample(provider, {
      assetId: 'twice',
      contractPolicy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 2 }] }] },
    });
    const n = await negotiate('twice');
    // Three transfers started before any data was read: the agreement allows each of them to start.
    const [a, b, c] = [await started(n.agreementId), await started(n.agreementId), await started(n.agreementId)];
    // The first GET of a transfer is its use; its further (resumed) requests are not counted again.
    for (const { target } of [a, b]) {
      for (const range of ['bytes=0-9', 'bytes=10-19', 'bytes=0-9']) {
        const ok = await pull(target, range);
        expect(ok.statusCode).toBe(206);
        await ok.body.dump();
      }
    }
    const third = await pull(c.target);
    expect(third.statusCode).toBe(403);
    expect(((await third.body.json()) as { error: { message: string } }).error.message).toMatch(/count/);
    const ended = await eventually(async () => {
      const t = await transfer(c.id);
      return t.state === 'TERMINATED' && t;
    });
    expect(ended.error).toMatch(/POLICY_DENIED|count/);
    // The two counted transfers are still running and still served.
    const resumed = await pull(a.target, 'bytes=20-29');
    expect(resumed.statusCode).toBe(206);
    await resumed.body.dump();
    expect((await transfer(a.id)).state).toBe('STARTED');
    // Both uses are spent: a new transfer is refused when it is requested.
    const late = await api(consumer, 'POST', '/transfers', { agreementId: n.agreementId });
    const refused = await eventually(async () => {
      const t = await transfer(late.id);
      return t.state === 'TERMINATED' && t;
    });
    expect(refused.error).toMatch(/count|POLICY_DENIED/);
  });

  it('counts a push transfer as a use: the second push transfer under a once-only agreement is refused', async () => {
    await publishSample(provider, {
      assetId: 'push-once',
      contractPolicy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'count', operator: 'lteq', rightOperand: 1 }] }] },
    });
    const n = await negotiate('push-once');
    const identity = localhostTls(loadCaDirectory(path.join(tmp.dir, 'ca')));
    let bodies = 0;
    const sink = https.createServer({ key: identity.key, cert: identity.cert }, (req, res) => {
      req.resume();
      req.on('end', () => ((bodies += 1), res.writeHead(201).end()));
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const pushTo = { url: `https://localhost:${(sink.address() as AddressInfo).port}/inbox` };
    const ended = async (id: string) => eventually(async () => {
      const t = await transfer(id);
      return (t.state === 'COMPLETED' || t.state === 'TERMINATED') && t;
    });
    try {
      const first = await api(consumer, 'POST', '/transfers', { agreementId: n.agreementId, pushTo });
      expect(await ended(first.id)).toMatchObject({ state: 'COMPLETED' });
      const second = await api(consumer, 'POST', '/transfers', { agreementId: n.agreementId, pushTo });
      const refused = await ended(second.id);
      expect(refused.state).toBe('TERMINATED');
      expect(refused.error).toMatch(/count|POLICY_DENIED/);
      expect(bodies).toBe(1);
    } finally {
      sink.closeAllConnections();
      await new Promise((r) => sink.close(r));
    }
  });

  it('binds the declared purpose into the agreement and refuses a purpose the policy does not allow', async () => {
    await publishSample(provider, {
      assetId: 'advice-only',
      contractPolicy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'isAnyOf', rightOperand: ['agronomic-advice', 'research'] }] }] },
    });
    const agreed = await negotiate('advice-only', 'agronomic-advice');
    expect(agreed.state).toBe('FINALIZED');
    const agreement = await api(consumer, 'GET', `/agreements/${encodeURIComponent(agreed.agreementId)}`);
    expect(agreement.agreement.permission[0].constraint).toEqual(
      expect.arrayContaining([{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'agronomic-advice' }]),
    );
    const refused = await negotiate('advice-only', 'marketing');
    expect(refused.state).toBe('TERMINATED');
    expect(refused.error).toMatch(/purpose/);
    const none = await negotiate('advice-only');
    expect(none.state).toBe('TERMINATED');
  });

  it('refuses new transfers once the validity window closed and terminates running ones', async () => {
    const until = new Date(Date.now() + 4000).toISOString();
    await publishSample(provider, {
      assetId: 'short-window',
      contractPolicy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: until }] }] },
    });
    const n = await negotiate('short-window');
    const running = await started(n.agreementId);
    const ok = await pull(running.target);
    expect(ok.statusCode).toBe(206);
    await ok.body.dump();
    // The policy monitor (every second) ends the running transfer when the window closes.
    const ended = await eventually(async () => {
      const t = await transfer(running.id);
      return t.state === 'TERMINATED' && t;
    }, 15_000);
    expect(ended.error).toMatch(/dateTime/);
    // The provider's audit trail holds the monitor's denial for that transfer.
    const audit = (await api(provider, 'GET', `/audit/export?process=${encodeURIComponent((await transfer(running.id)).providerPid)}`)) as { entries: { event: string; detail: Record<string, unknown> }[] };
    const denial = audit.entries.find((e) => e.event === 'policy.decision' && e.detail.monitor === true);
    expect(denial?.detail).toMatchObject({ scope: 'transfer', allowed: false, reason: expect.stringMatching(/dateTime/) });
    const late = await api(consumer, 'POST', '/transfers', { agreementId: n.agreementId });
    const refused = await eventually(async () => {
      const t = await transfer(late.id);
      return t.state === 'TERMINATED' && t;
    });
    expect(refused.error).toMatch(/dateTime|POLICY_DENIED/);
  });

  it('deletes the received copy on time even across a consumer restart, and the provider stores the signed receipt', async () => {
    const content = crypto.randomBytes(4096);
    await publishSample(provider, {
      assetId: 'insurer-30-days',
      content,
      contractPolicy: {
        permission: [{ action: 'use' }],
        obligation: [{ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'PT6S' }] }],
      },
    });
    const n = await negotiate('insurer-30-days');
    const { id } = await started(n.agreementId);
    const result = await api(consumer, 'POST', `/transfers/${encodeURIComponent(id)}/download`, { fileName: 'insured.bin' });
    const file = path.join(consumer.dir, 'data', 'downloads', 'insured.bin');
    expect(fs.readFileSync(file).equals(content)).toBe(true);
    expect(result.sha256).toBe(crypto.createHash('sha256').update(content).digest('hex'));
    // The consumer goes down before the deadline and comes back after it.
    await consumer.node!.stop();
    await new Promise((r) => setTimeout(r, 6500));
    expect(fs.existsSync(file)).toBe(true);
    await startMember(consumer);
    await eventually(async () => !fs.existsSync(file), 10_000, 'the copy to be deleted');
    const providerTransfer = (await transfer(id)).providerPid;
    expect(providerTransfer).toBeTruthy();
    const receipts = await eventually(async () => {
      const r = await api(provider, 'GET', `/agreements/${encodeURIComponent(n.agreementId)}/deletion-receipts`);
      return r.length > 0 && r;
    }, 10_000, 'the deletion receipt');
    const [header, payload] = receipts[0].receipt.split('.').slice(0, 2).map((p: string) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header.typ).toBe('hedgerow-deletion-receipt+jwt');
    expect(payload).toMatchObject({ agreementId: n.agreementId, consumer: consumer.participantId });
  });

  it('revoking the farmer consent stops a running pull at once, the consumer deletes its copy and the provider gets the receipt', async () => {
    const content = crypto.randomBytes(8192);
    await publishSample(provider, {
      assetId: 'farm-yields',
      originator: 'farm:FR-44-0012',
      category: 'parcel-yields',
      content,
      contractPolicy: {
        permission: [{ action: 'use', constraint: [{ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }] }],
        obligation: [{ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P1Y' }] }],
      },
    });
    // The asset comes from a member farm; until the farmer consents to agronomic advice by agro, nothing is agreed.
    const refused = await negotiate('farm-yields', 'agronomic-advice');
    expect(refused.state).toBe('TERMINATED'); // no consent yet
    expect(refused.error).toMatch(/consent/);
    // A consent limited to another category of the farm's data does not cover these yields.
    const soil = await api(provider, 'POST', '/consents', { originator: 'farm:FR-44-0012', purpose: 'agronomic-advice', beneficiary: consumer.participantId, category: 'soil-analyses' });
    await api(provider, 'POST', `/consents/${encodeURIComponent(soil.consent.id)}/grant`, {});
    expect((await negotiate('farm-yields', 'agronomic-advice')).state).toBe('TERMINATED');
    const { consent } = await api(provider, 'POST', '/consents', { originator: 'farm:FR-44-0012', purpose: 'agronomic-advice', beneficiary: consumer.participantId, category: 'parcel-yields' });
    await api(provider, 'POST', `/consents/${encodeURIComponent(consent.id)}/grant`, {});
    const agreed = await negotiate('farm-yields', 'agronomic-advice');
    expect(agreed.state).toBe('FINALIZED');

    const { id, target } = await started(agreed.agreementId);
    await api(consumer, 'POST', `/transfers/${encodeURIComponent(id)}/download`, { fileName: 'farm.bin', complete: false });
    const file = path.join(consumer.dir, 'data', 'downloads', 'farm.bin');
    expect(fs.readFileSync(file).equals(content)).toBe(true);
    const before = await pull(target, 'bytes=0-99');
    expect(before.statusCode).toBe(206);
    await before.body.dump();

    await api(provider, 'POST', `/consents/${encodeURIComponent(consent.id)}/revoke`, { reason: 'the farmer left the advice programme' });
    const after = await pull(target, 'bytes=100-199');
    expect(after.statusCode).toBe(403);
    await after.body.dump();
    const theirs = await api(provider, 'GET', `/agreements/${encodeURIComponent(agreed.agreementId)}`);
    expect(theirs).toMatchObject({ status: 'revoked' });
    expect(theirs.statusReason).toMatch(/consent/);
    const ended = await eventually(async () => {
      const t = await transfer(id);
      return t.state === 'TERMINATED' && t;
    });
    expect(ended.error).toMatch(/AGREEMENT_REVOKED|consent/);
    await eventually(async () => !fs.existsSync(file), 10_000, 'the copy to be deleted');
    const receipts = await eventually(async () => {
      const r = await api(provider, 'GET', `/agreements/${encodeURIComponent(agreed.agreementId)}/deletion-receipts`);
      return r.length > 0 && r;
    }, 10_000, 'the deletion receipt');
    expect(receipts[0].consumerId).toBe(consumer.participantId);
  });

  it('performs the notify duty: one message per use to the provider-given URL, signed with the peer token', async () => {
    const identity = localhostTls(loadCaDirectory(path.join(tmp.dir, 'ca')));
    const received: Array<{ auth: string; body: Record<string, unknown> }> = [];
    const sink = https.createServer({ key: identity.key, cert: identity.cert }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        received.push({ auth: req.headers.authorization ?? '', body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    try {
      const recipient = `https://localhost:${(sink.address() as AddressInfo).port}/usage-events`;
      await publishSample(provider, {
        assetId: 'notify-me',
        contractPolicy: { permission: [{ action: 'use', duty: [{ action: 'notify', constraint: [{ leftOperand: 'recipient', operator: 'eq', rightOperand: recipient }] }] }] },
      });
      const n = await negotiate('notify-me');
      const { id } = await started(n.agreementId);
      await api(consumer, 'POST', `/transfers/${encodeURIComponent(id)}/download`, { fileName: 'notify.csv' });
      await eventually(async () => received.length > 0, 10_000, 'the notification');
      expect(received[0]!.body).toMatchObject({ '@type': 'UsageNotification', agreementId: n.agreementId, use: 'received' });
      expect(received[0]!.auth).toMatch(/^Bearer ey/);
    } finally {
      sink.closeAllConnections();
      await new Promise((r) => sink.close(r));
    }
  });
});

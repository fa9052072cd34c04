import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { tempDir } from '../helpers/cli';
import { agreementFor, api, coopAndAgro, eventually, killMembers, publishSample, startMember, type Member } from '../helpers/dataspace';
import { loadCaDirectory } from '../../src/pki/ca-directory';
import { localhostTls } from '../helpers/tls';

/**
 * Transfer process and data plane between two real connector processes: pull with digest check,
 * push to a consumer-supplied endpoint, token misuse, suspension and termination cutting access,
 * path traversal, a backend that is down.
 */
describe('transfers between two connector processes', () => {
  const tmp = tempDir();
  let provider: Member;
  let consumer: Member;
  let dsp: string;
  let agent: Agent;
  const content = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const sha256 = crypto.createHash('sha256').update(content).digest('hex');

  const agree = (assetId: string) => agreementFor(consumer, provider, dsp, assetId);

  async function transferIn(id: string, state: string, who: Member = consumer) {
    return eventually(async () => {
      const t = await api(who, 'GET', `/transfers/${encodeURIComponent(id)}`);
      return t.state === state && t;
    }, 15_000, `transfer ${state}`);
  }

  async function startedPull(agreementId: string) {
    const t = await api(consumer, 'POST', '/transfers', { agreementId });
    await transferIn(t.id, 'STARTED');
    return { t, target: await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}/data-address`) };
  }

  beforeAll(async () => {
    [provider, consumer] = coopAndAgro(tmp.dir);
    await startMember(provider);
    await startMember(consumer);
    dsp = `https://localhost:${provider.node!.publicPort}/dsp/2025-1`;
    await publishSample(provider, { assetId: 'yields', content });
    agent = new Agent({ connect: { ca: fs.readFileSync(path.join(tmp.dir, 'ca', 'ca.crt.pem')) } });
  });

  afterAll(async () => {
    await killMembers(provider, consumer);
    await agent?.close();
    tmp.cleanup();
  });

  it('pulls a file: the provider publishes its SHA-256, the consumer downloads, verifies and completes', async () => {
    const agreementId = await agree('yields');
    const { t, target } = await startedPull(agreementId);
    expect(target.sha256).toBe(sha256);
    expect(target.size).toBe(content.length);
    const result = await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/download`, { fileName: 'yields.bin' });
    expect(result).toMatchObject({ bytes: content.length, sha256, verifiedAgainst: 'expected' });
    expect(fs.readFileSync(path.join(consumer.dir, 'data', 'downloads', 'yields.bin')).equals(content)).toBe(true);
    const done = await transferIn(t.id, 'COMPLETED');
    expect(done.dataStatus).toBe('downloaded');
    expect(JSON.stringify(done)).not.toContain(target.authorization.slice(7, 40)); // no token in the API view
    await transferIn(done.providerPid, 'COMPLETED', provider);
  });

  it('serves byte ranges with the digest of the whole file, and refuses tokens that may not be used', async () => {
    const agreementId = await agree('yields');
    const { t, target } = await startedPull(agreementId);
    const get = (headers: Record<string, string>, url = target.endpoint) => request(url, { dispatcher: agent, headers });
    const part = await get({ authorization: target.authorization, range: 'bytes=100-199' });
    expect(part.statusCode).toBe(206);
    expect(part.headers['x-hedgerow-sha256']).toBe(sha256);
    expect(Buffer.from(await part.body.arrayBuffer()).equals(content.subarray(100, 200))).toBe(true);

    const none = await get({});
    expect(none.statusCode).toBe(401);
    await none.body.dump();
    const forged = await get({ authorization: `${target.authorization.slice(0, -4)}AAAA` });
    expect(forged.statusCode).toBe(401);
    await forged.body.dump();
    // Another transfer's token on this transfer's endpoint.
    const other = await startedPull(agreementId);
    const crossed = await get({ authorization: other.target.authorization });
    expect(crossed.statusCode).toBe(403);
    expect(((await crossed.body.json()) as { error: { code: string } }).error.code).toBe('DATA_TOKEN_WRONG_TRANSFER');

    // Suspension cuts access at once; resumption restores it; termination ends it for good.
    await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/suspend`, { reason: 'night window over' });
    await transferIn(t.providerPid ?? (await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}`)).providerPid, 'SUSPENDED', provider);
    const suspended = await get({ authorization: target.authorization, range: 'bytes=0-9' });
    expect(suspended.statusCode).toBe(403);
    expect(((await suspended.body.json()) as { error: { code: string } }).error.code).toBe('TRANSFER_NOT_STARTED');
    await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/resume`);
    const providerPid = (await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}`)).providerPid;
    await transferIn(providerPid, 'STARTED', provider);
    const again = await get({ authorization: target.authorization, range: 'bytes=0-9' });
    expect(again.statusCode).toBe(206);
    await again.body.dump();
    await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/terminate`, { reason: 'done with it' });
    await transferIn(providerPid, 'TERMINATED', provider);
    const ended = await get({ authorization: target.authorization });
    expect(ended.statusCode).toBe(403);
    await ended.body.dump();
    // A fresh token is refused too once the transfer ended.
    await expect(api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/token`)).rejects.toThrow(/409|TERMINATED/);
  });

  it('cuts a pull that is being served when the provider suspends the transfer', async () => {
    // Larger than what socket buffers hold, so that most of it is still to be sent when the suspension comes.
    const size = 64 * 1024 * 1024;
    await publishSample(provider, { assetId: 'big-yields', content: Buffer.alloc(size, 7) });
    const agreementId = await agree('big-yields');
    const { t, target } = await startedPull(agreementId);
    const providerPid = (await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}`)).providerPid;
    const res = await request(target.endpoint, { dispatcher: agent, headers: { authorization: target.authorization } });
    expect(res.statusCode).toBe(200);
    const chunks = res.body[Symbol.asyncIterator]();
    let received = ((await chunks.next()).value as Buffer).length;
    // The consumer stops reading; the provider's operator suspends the transfer meanwhile.
    await api(provider, 'POST', `/transfers/${encodeURIComponent(providerPid)}/suspend`, { reason: 'maintenance window' });
    await transferIn(providerPid, 'SUSPENDED', provider);
    let cut = false;
    try {
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) received += (next.value as Buffer).length;
    } catch {
      cut = true;
    }
    expect(cut).toBe(true);
    expect(received).toBeLessThan(size);
  });

  it('refreshes a pull token through the provider while STARTED', async () => {
    const agreementId = await agree('yields');
    const { t, target } = await startedPull(agreementId);
    const fresh = await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/token`);
    expect(fresh.endpoint).toBe(target.endpoint);
    expect(fresh.authorization).not.toBe(target.authorization);
    const res = await request(fresh.endpoint, { dispatcher: agent, headers: { authorization: fresh.authorization, range: 'bytes=0-0' } });
    expect(res.statusCode).toBe(206);
    await res.body.dump();
  });

  it('refuses to start a transfer under an agreement this connector does not hold', async () => {
    const unknown = await api(consumer, 'POST', '/transfers', { agreementId: 'urn:uuid:00000000-0000-0000-0000-000000000000' }).catch((e: Error) => e);
    expect(String(unknown)).toMatch(/404.*not found/);
  });

  it('pushes to a consumer-supplied HTTPS endpoint with its authorization, then completes', async () => {
    // A receiving server with a certificate from the dataspace CA (the provider trusts that CA).
    const identity = localhostTls(loadCaDirectory(path.join(tmp.dir, 'ca')));
    const received: Buffer[] = [];
    let auth = '';
    const sink = https.createServer({ key: identity.key, cert: identity.cert }, (req, res) => {
      auth = req.headers.authorization ?? '';
      req.on('data', (c: Buffer) => received.push(c));
      req.on('end', () => res.writeHead(201).end());
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    try {
      const agreementId = await agree('yields');
      const t = await api(consumer, 'POST', '/transfers', {
        agreementId,
        pushTo: { url: `https://localhost:${(sink.address() as AddressInfo).port}/inbox/yields`, authorization: 'sink-secret' },
      });
      const done = await transferIn(t.id, 'COMPLETED');
      expect(Buffer.concat(received).equals(content)).toBe(true);
      expect(auth).toBe('Bearer sink-secret');
      const theirs = await api(provider, 'GET', `/transfers/${encodeURIComponent(done.providerPid)}`);
      expect(theirs).toMatchObject({ state: 'COMPLETED', dataStatus: 'pushed', sha256, bytes: content.length });
      expect(JSON.stringify(theirs)).not.toContain('sink-secret');
    } finally {
      sink.closeAllConnections();
      await new Promise((r) => sink.close(r));
    }
  });

  it('refuses asset paths outside the data root', async () => {
    for (const bad of ['../../certs/connector.key.pem', '/etc/passwd']) {
      const err = await api(provider, 'POST', '/assets', { id: `bad-${crypto.randomUUID().slice(0, 8)}`, source: { type: 'file', path: bad } }).catch((e: Error) => e);
      expect(String(err)).toMatch(/400.*\/source\/path/);
    }
    // A symlink inside the root pointing outside is refused when served.
    fs.symlinkSync('/etc/hostname', path.join(provider.dir, 'data', 'assets', 'escape.csv'));
    await publishSample(provider, { assetId: 'escape', source: { type: 'file', path: 'escape.csv' } });
    const agreementId = await agree('escape');
    const t = await api(consumer, 'POST', '/transfers', { agreementId });
    await transferIn(t.id, 'STARTED');
    const target = await api(consumer, 'GET', `/transfers/${encodeURIComponent(t.id)}/data-address`);
    const res = await request(target.endpoint, { dispatcher: agent, headers: { authorization: target.authorization } });
    expect(res.statusCode).toBe(403);
    expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('PATH_OUTSIDE_ROOT');
  });

  it('terminates the transfer with a clear reason when the HTTP backend is down, leaving no complete file', async () => {
    await publishSample(provider, { assetId: 'from-backend', source: { type: 'http', url: 'http://127.0.0.1:9/yields.csv', headers: { authorization: 'backend-secret' } } });
    const agreementId = await agree('from-backend');
    const t = await api(consumer, 'POST', '/transfers', { agreementId });
    await transferIn(t.id, 'STARTED');
    const err = await api(consumer, 'POST', `/transfers/${encodeURIComponent(t.id)}/download`, { fileName: 'backend.csv' }).catch((e: Error) => e);
    expect(String(err)).toMatch(/HTTP (502|409)/);
    const ended = await transferIn(t.id, 'TERMINATED');
    expect(ended.error).toMatch(/BACKEND_UNREACHABLE|backend/i);
    expect(ended.error).not.toContain('backend-secret');
    expect(fs.existsSync(path.join(consumer.dir, 'data', 'downloads', 'backend.csv'))).toBe(false);
  });
});

import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { deletionDueAt, UsageControl } from '../../src/usage/usage-control';
import { localhostTls } from '../helpers/tls';

/** due_at is compared as text by the deletion scheduler, so every stored value must sort as its instant does. */
describe('deletionDueAt', () => {
  it('stores a deadline as an ISO instant', () => {
    expect(deletionDueAt({ action: 'delete', source: 'obligation[0]', deadline: '2026-12-31T23:59:59Z' })).toBe('2026-12-31T23:59:59.000Z');
  });

  it('stores a deadline past year 9999 as the last sortable instant, not as "+0…" (which sorts before today)', () => {
    const due = deletionDueAt({ action: 'delete', source: 'obligation[0]', deadline: '+020000-01-01T00:00:00Z' });
    expect(due).toBe('9999-12-31T23:59:59.999Z');
    expect(due > new Date().toISOString()).toBe(true);
  });

  it('treats a within duration the engine could not place in time as never due', () => {
    expect(deletionDueAt({ action: 'delete', source: 'permission[0].duty[0]', within: 'P100000000D' })).toBe('9999-12-31T23:59:59.999Z');
  });

  it('is due now without deadline or duration', () => {
    const before = new Date().toISOString();
    const due = deletionDueAt({ action: 'delete', source: 'obligation[0]' });
    expect(due >= before && due <= new Date().toISOString()).toBe(true);
  });
});

describe('deletion receipts endpoint', () => {
  let server: http.Server;
  let url: string;
  const trusted = localhostTls();

  beforeAll(async () => {
    const usage = new UsageControl({
      store: {} as never,
      facts: {} as never,
      transfers: {} as never,
      identity: { current: { participantId: 'did:web:coop.example' } } as never,
      peers: { verify: async () => ({ participantId: 'did:web:localhost' }) } as never,
      anchors: () => [new X509Certificate(trusted.caPem)],
      giveUpMs: 1000,
      kick: () => undefined,
      monitorSeconds: 60,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never,
    });
    const app = express();
    app.use(usage.router());
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/usage/deletion-receipts`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = async (receipt: string) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer peer' }, body: JSON.stringify({ receipt }) });
    return { status: res.status, body: (await res.json()) as { error: { code: string } } };
  };
  const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  const header = (x5c: string[]) => b64({ alg: 'ES256', typ: 'hedgerow-deletion-receipt+jwt', x5c });
  const der = (pem: string) => new X509Certificate(pem).raw.toString('base64');

  it.each([
    ['a certificate that does not parse', `${header(['!!not a certificate'])}.${b64({})}.c2ln`],
    ['a certificate outside our anchors', `${header([der(localhostTls().cert)])}.${b64({})}.c2ln`],
    ['a trusted certificate with a signature that does not verify', `${header([der(trusted.cert)])}.${b64({ agreementId: 'a', receiptId: 'r' })}.c2ln`],
  ])('answers 401 RECEIPT_INVALID, not 500, for %s', async (_what, receipt) => {
    expect(await post(receipt)).toMatchObject({ status: 401, body: { error: { code: 'RECEIPT_INVALID' } } });
  });

  it('answers 401 RECEIPT_INVALID for a correctly signed payload that is not JSON', async () => {
    const key = createPrivateKey(trusted.key);
    const protectedHeader = header([der(trusted.cert)]);
    const payload = b64('not json');
    const signature = sign('sha256', Buffer.from(`${protectedHeader}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    expect(await post(`${protectedHeader}.${payload}.${signature}`)).toMatchObject({ status: 401, body: { error: { code: 'RECEIPT_INVALID' } } });
  });
});

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { dspEndpoint, type DspContext } from '../../src/protocol/dsp/handler';
import type { DspRouterDeps } from '../../src/protocol/dsp/router';
import { serveDspRouter } from '../helpers/dsp-router';
import { PeerAuthError } from '../../src/identity/peer-token';
import { MAX_JSON_DEPTH } from '../../src/json-depth';
import { silentLogger } from '../../src/log/logger';

/** The shared DSP endpoint wrapper, over real HTTP: follow-ups, and what reaches the action. */
describe('dspEndpoint', () => {
  let server: Server;
  let port: number;
  let verifierCalled: () => void = () => undefined;
  let releaseVerifier: () => void = () => undefined;
  const after = jest.fn();

  const ctx: DspContext = {
    participantId: () => 'urn:self',
    logger: silentLogger,
    verifier: {
      scheme: 'test',
      // Token verification is asynchronous: the test decides when it completes.
      verify: () =>
        new Promise((resolve) => {
          releaseVerifier = () => resolve({ participantId: 'urn:peer', scheme: 'test' });
          verifierCalled();
        }),
    },
  };

  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    app.post('/x', dspEndpoint(ctx, 'negotiation', null, () => ({ status: 200, body: { ok: true }, after })));
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  beforeEach(() => after.mockClear());

  const until = async (cond: () => boolean, ms = 2000) => {
    for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  };

  it('runs the follow-up exactly once after a normal response', async () => {
    verifierCalled = () => releaseVerifier();
    const res = await fetch(`http://127.0.0.1:${port}/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    await until(() => after.mock.calls.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(after).toHaveBeenCalledTimes(1);
  });

  it('still runs the follow-up when the peer hung up while its token was being verified', async () => {
    const called = new Promise<void>((r) => (verifierCalled = r));
    const serverSocketClosed = new Promise<void>((r) => server.once('connection', (s: net.Socket) => s.once('close', () => r())));
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    client.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    await called;
    client.destroy();
    await serverSocketClosed;
    // The action commits the owed message only now, after the connection is gone: 'finish' never fires.
    releaseVerifier();
    await until(() => after.mock.calls.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(after).toHaveBeenCalledTimes(1);
  });
});

/** What peers get back from the DSP router for bodies that must never reach an action. */
describe('DSP router: refused bodies', () => {
  let served: Awaited<ReturnType<typeof serveDspRouter>>;
  let base: string;
  const errors: string[] = [];
  const unreachable = () => {
    throw new Error('the action must not run');
  };

  beforeAll(async () => {
    const deps = {
      participantId: () => 'urn:self',
      logger: { ...silentLogger, error: (msg: string) => errors.push(msg) },
      verifier: {
        scheme: 'test',
        verify: async (h: string | undefined) => {
          if (h !== 'Bearer good') throw new PeerAuthError('TOKEN_MISSING', 'no token');
          return { participantId: 'urn:peer', scheme: 'test' };
        },
      },
      negotiations: { receiveInitialRequest: unreachable },
      transfers: { receiveRequest: unreachable },
      catalog: {},
      facts: {},
      publicUrl: () => 'https://self',
    } as unknown as DspRouterDeps;
    served = await serveDspRouter(deps);
    base = served.base;
  });
  afterAll(() => served.close());
  afterEach(() => {
    expect(errors).toEqual([]);
  });

  const post = async (p: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer good', ...headers }, body });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it.each([
    ['an unsupported charset', '/negotiations/request', 415, 'ContractNegotiationError', 'UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'application/json; charset=x-bogus' }],
    ['an unsupported Content-Encoding', '/transfers/request', 415, 'TransferError', 'UNSUPPORTED_MEDIA_TYPE', { 'content-encoding': 'x-foo' }],
    ['a text/plain body', '/negotiations/request', 415, 'ContractNegotiationError', 'UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'text/plain' }],
    ['a text/plain body without a token', '/catalog/request', 401, 'CatalogError', 'UNAUTHORIZED', { 'content-type': 'text/plain', authorization: 'Bearer bad' }],
    ['a body over 1 MB', '/catalog/request', 413, 'CatalogError', 'PAYLOAD_TOO_LARGE', {}],
  ])('answers %s on %s with %i and a %s (%s)', async (what, p, status, errorType, code, headers) => {
    const body = what.includes('1 MB') ? JSON.stringify({ pad: 'x'.repeat(1_100_000) }) : '{}';
    const res = await post(p, body, headers);
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ '@type': errorType, code });
  });

  const deepConstraint = (depth: number) => '{"and":['.repeat(depth) + '{"leftOperand":"purpose","operator":"eq","rightOperand":"x"}' + ']}'.repeat(depth);

  it.each([
    [
      '/negotiations/request',
      'ContractNegotiationError',
      `{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"ContractRequestMessage","consumerPid":"urn:c","callbackAddress":"https://a.example",` +
        `"offer":{"@id":"a:b:c","@type":"Offer","target":"b","permission":[{"action":"use","constraint":[${deepConstraint(3000)}]}]}}`,
    ],
    ['/transfers/request', 'TransferError', `{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"TransferRequestMessage","consumerPid":"urn:c","x":${'['.repeat(3000) + ']'.repeat(3000)}}`],
  ])('answers a deeply nested body on %s with 400 and a %s, not a stack overflow', async (p, errorType, body) => {
    const res = await post(p, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ '@type': errorType, consumerPid: 'urn:c', code: 'SCHEMA_VIOLATION', reason: [`/: JSON nested deeper than ${MAX_JSON_DEPTH} levels`] });
  });
});

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { dspEndpoint, type DspContext } from '../../src/protocol/dsp/handler';
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

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { backoffDelay, isRetryable, OutboxDispatcher } from '../../src/outbox/dispatcher';
import { DspClient, joinUrl } from '../../src/protocol/dsp/client';
import { AddressGuard } from '../../src/net/address-guard';
import { ForbiddenError } from '../../src/errors';
import { createLogger } from '../../src/log/logger';
import { Store } from '../../src/store/store';
import type { OutboxEntry } from '../../src/store/repositories/outbox';
import type { TokenSigner } from '../../src/identity/peer-token';

describe('outbound delivery rules', () => {
  it('joins callback addresses with or without a trailing slash', () => {
    expect(joinUrl('https://c.example/cb', '/negotiations/x/offers')).toBe('https://c.example/cb/negotiations/x/offers');
    expect(joinUrl('https://c.example/cb/', '/negotiations/x/offers')).toBe('https://c.example/cb/negotiations/x/offers');
    expect(joinUrl('https://c.example/cb//', 'negotiations/x/offers')).toBe('https://c.example/cb/negotiations/x/offers');
  });

  it('retries on network errors, 404 (the TCK registers handlers late), 408, 425, 429 and 5xx; not on other 4xx', () => {
    for (const status of [404, 408, 425, 429, 500, 502, 503]) expect(isRetryable(status)).toBe(true);
    for (const status of [400, 409, 410, 413, 422]) expect(isRetryable(status)).toBe(false);
  });

  it('backs off exponentially with ±50 % jitter, capped', () => {
    const policy = { initialDelayMs: 250, maxDelayMs: 600_000 };
    expect(backoffDelay(0, policy, () => 0.5)).toBe(250);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2000);
    expect(backoffDelay(3, policy, () => 0)).toBe(1000);
    expect(backoffDelay(3, policy, () => 0.999)).toBeLessThan(3000);
    expect(backoffDelay(40, policy, () => 0.5)).toBe(600_000);
  });
});

/**
 * A peer name that passes the synchronous URL check but resolves to a forbidden address is refused
 * inside undici's connect (the guard's lookup). That refusal must stay the guard's typed error all the
 * way up: the outbox then settles the message at once instead of retrying it for a day.
 */
describe('peer address refused at resolution time (SSRF guard inside connect)', () => {
  const signer = { sign: async () => 'test-token' } as unknown as TokenSigner;
  const resolved: string[] = [];
  /** A guard whose DNS answers every name with `address`. */
  const guardResolvingTo = (address: string, allow: string[] = []) =>
    new AddressGuard({
      allow,
      resolve: (hostname, _options, callback) => {
        resolved.push(hostname);
        callback(null, [{ address, family: net.isIP(address) }]);
      },
    });
  beforeEach(() => (resolved.length = 0));

  it.each(['127.0.0.1', '169.254.169.254', '::1', '::ffff:127.0.0.1'])('DspClient rethrows the guard refusal of %s, not PEER_UNREACHABLE', async (address) => {
    const client = new DspClient({ signer, guard: guardResolvingTo(address), trustedCas: () => [] });
    try {
      const err = await client.post('https://peer.example:8443/dsp/negotiations/request', 'urn:peer', {}).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ForbiddenError);
      expect(err).toMatchObject({ code: 'ADDRESS_FORBIDDEN', httpStatus: 403 });
      expect((err as Error).message).toContain(`address of peer.example resolves to ${address}`);
      expect(resolved).toEqual(['peer.example']);
    } finally {
      await client.close();
    }
  });

  it('other connection failures still end as PEER_UNREACHABLE (502, retried)', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const client = new DspClient({ signer, guard: guardResolvingTo('127.0.0.1', ['127.0.0.1']), trustedCas: () => [] });
    try {
      const err = await client.post(`https://peer.example:${port}/dsp`, 'urn:peer', {}).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'PEER_UNREACHABLE', httpStatus: 502 });
      expect((err as Error).message).toMatch(/cannot reach peer\.example.*ECONNREFUSED/);
    } finally {
      await client.close();
    }
  });

  describe('OutboxDispatcher', () => {
    let dir: string;
    let store: Store;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-outbox-'));
      store = Store.open(dir);
    });
    afterEach(() => {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('rejects the message on its first attempt and schedules no retry', async () => {
      const client = new DspClient({ signer, guard: guardResolvingTo('169.254.169.254'), trustedCas: () => [] });
      const warnings: Array<Record<string, unknown>> = [];
      const logger = createLogger({ level: 'warn', format: 'json', write: (line) => warnings.push(JSON.parse(line)) });
      let settled!: () => void;
      const done = new Promise<void>((r) => (settled = r));
      const observer = {
        prepare: jest.fn(async (e: OutboxEntry) => e),
        delivered: jest.fn(),
        rejected: jest.fn(() => settled()),
        gaveUp: jest.fn(() => settled()),
      };
      const posted = jest.spyOn(client, 'post');
      // The first outcome ends the wait: settled (rejected, given up) or a retry scheduled.
      const retried = jest.spyOn(store.outbox, 'scheduleRetry').mockImplementation(() => settled());
      const id = store.outbox.enqueue({
        processId: 'urn:uuid:p1', messageType: 'ContractAgreementMessage', url: 'https://peer.example/cb/negotiations/x/agreement',
        audience: 'urn:peer', body: { '@type': 'ContractAgreementMessage' }, giveUpAt: Date.now() + 86_400_000,
      });
      const dispatcher = new OutboxDispatcher({
        outbox: store.outbox, transaction: (fn) => store.transaction(fn), client, observer, logger,
        retry: { initialDelayMs: 10, maxDelayMs: 20 },
      });
      try {
        dispatcher.start();
        await done;
        await dispatcher.stop();
      } finally {
        await client.close();
      }
      expect(posted).toHaveBeenCalledTimes(1);
      expect(retried).not.toHaveBeenCalled();
      expect(observer.gaveUp).not.toHaveBeenCalled();
      expect(observer.delivered).not.toHaveBeenCalled();
      expect(observer.rejected).toHaveBeenCalledTimes(1);
      expect(observer.rejected).toHaveBeenCalledWith(expect.objectContaining({ id }), { status: 0, body: { reason: [expect.stringContaining('resolves to 169.254.169.254')] } });
      expect(store.outbox.forProcess('urn:uuid:p1')).toEqual([]); // settled, nothing left to retry
      expect(store.outbox.nextDueAt()).toBeNull();
      expect(warnings).toEqual([expect.objectContaining({ level: 'warn', processId: 'urn:uuid:p1', error: expect.stringContaining('169.254.169.254') })]);
    });
  });
});

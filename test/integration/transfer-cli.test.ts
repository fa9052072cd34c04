import crypto, { X509Certificate, createPrivateKey } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { CLI, childEnv, tempDir } from '../helpers/cli';
import { agreementFor, api, coopAndAgro, eventually, killMembers, publishSample, startMember, type Member } from '../helpers/dataspace';
import { generateKeyPair, issueCertificate, certificateToPem, privateKeyToPem } from '../../src/pki';

/**
 * The transfer commands against two real connector processes: `hedgerow transfer start`, `hedgerow
 * fetch` (download, digest check, completion, interruption and resume, disk floor), `hedgerow
 * transfers`, suspend / resume / terminate / complete, push, and the one-line errors with their exit
 * codes. The CLI runs as a child process (asynchronously: the push sink lives in this process).
 */
interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('hedgerow transfer, transfers and fetch', () => {
  const tmp = tempDir();
  let provider: Member;
  let consumer: Member;
  let dsp: string;
  /** One agreement for every transfer here (an agreement allows many transfers). */
  let agreementId: string;
  const content = crypto.randomBytes(2 * 1024 * 1024 + 321);
  const sha256 = crypto.createHash('sha256').update(content).digest('hex');

  /** Run the CLI on the consumer (its config, API key and management URL); `onSpawn` may interrupt it. */
  function cli(args: string[], opts: { env?: Record<string, string>; onSpawn?: (kill: (s: NodeJS.Signals) => void, stderr: () => string) => void } = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args, '--config', consumer.config], {
        cwd: consumer.dir,
        env: childEnv({ HEDGEROW_API_KEY: consumer.apiKey, HEDGEROW_MANAGEMENT_URL: consumer.node!.managementUrl, ...opts.env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('error', reject);
      child.once('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      opts.onSpawn?.((s) => child.kill(s), () => stderr);
    });
  }

  /** An error ends a command with exactly one line on stderr. */
  function expectOneLineError(r: Run, status: number, message: RegExp) {
    expect(r.status).toBe(status);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^hedgerow: /);
    expect(r.stderr).toMatch(message);
  }

  const agree = (assetId = 'yields') => agreementFor(consumer, provider, dsp, assetId);

  async function stateOn(who: Member, id: string, state: string) {
    return eventually(async () => {
      const t = await api(who, 'GET', `/transfers/${encodeURIComponent(id)}`);
      return t.state === state && t;
    }, 15_000, `transfer ${id} ${state} on ${who.name}`);
  }

  async function startTransfer(agreementId: string): Promise<{ id: string; providerPid: string }> {
    const r = await cli(['transfer', 'start', agreementId, '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { outcome: string; transfer: { id: string; providerPid: string; state: string } };
    expect(out.outcome).toBe('STARTED');
    return out.transfer;
  }

  beforeAll(async () => {
    // Pull tokens shorter than the CLI's refresh margin: every fetch attempt refreshes through the provider.
    [provider, consumer] = coopAndAgro(tmp.dir, { coop: { config: { dataplane: { tokenLifetimeSeconds: 30 } } } });
    await Promise.all([startMember(provider), startMember(consumer)]);
    dsp = `https://localhost:${provider.node!.publicPort}/dsp/2025-1`;
    await publishSample(provider, { assetId: 'yields', content });
    agreementId = await agree();
  });

  afterAll(async () => {
    await killMembers(provider, consumer);
    tmp.cleanup();
  });

  it('starts a pull transfer, fetches it into a file (verified), completes it, and lists it', async () => {
    const plain = await cli(['transfer', 'start', agreementId]);
    expect(plain.status).toBe(0);
    const id = /^transfer (\S+) STARTED$/m.exec(plain.stdout)![1]!;
    expect(plain.stdout).toContain(`requested from ${provider.participantId} under agreement ${agreementId} (HttpData-PULL)`);
    expect(plain.stdout).toContain(`hedgerow fetch ${id} --out FILE`);

    const out = path.join(consumer.dir, 'yields.bin');
    const fetched = await cli(['fetch', id, '--out', 'yields.bin']);
    expect(fetched.stderr).toBe('');
    expect(fetched.status).toBe(0);
    expect(fs.readFileSync(out).equals(content)).toBe(true);
    expect(fs.existsSync(`${out}.part`)).toBe(false);
    expect(fs.existsSync(`${out}.part.json`)).toBe(false);
    expect(fetched.stdout).toContain(`fetched ${content.length} bytes into yields.bin`);
    expect(fetched.stdout).toContain(`sha256 ${sha256} (verified against the provider's DataAddress)`);
    expect(fetched.stdout).toContain(`transfer ${id} COMPLETED`);
    const mine = await stateOn(consumer, id, 'COMPLETED');
    await stateOn(provider, mine.providerPid, 'COMPLETED');

    const list = await cli(['transfers']);
    expect(list.status).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+ROLE\s+STATE\s+FORMAT\s+COUNTERPARTY\s+AGREEMENT\s+UPDATED$/);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+consumer\\s+COMPLETED\\s+HttpData-PULL\\s+${provider.participantId}\\s+${agreementId}`));
    const filtered = JSON.parse((await cli(['transfers', '--state', 'completed', '--role', 'consumer', '--json'])).stdout) as Array<{ id: string; dataAddress: unknown }>;
    expect(filtered.map((t) => t.id)).toContain(id);
    expect(JSON.stringify(filtered)).not.toMatch(/authorization|eyJ/); // no tokens in listings

    const one = await cli(['transfers', id]);
    expect(one.status).toBe(0);
    expect(one.stdout).toMatch(/^transfer:\s+\S+/m);
    expect(one.stdout).toMatch(/^state:\s+COMPLETED$/m);
    expect(one.stdout).toMatch(/^timeline \(\d+ events\):$/m);
    expect(one.stdout).toMatch(/transition\s+TransferRequestMessage\s+-→REQUESTED\s+agreement /);
    expect(one.stdout).toMatch(/received\s+TransferStartMessage\s+REQUESTED→STARTED/);
    expect(one.stdout).toMatch(/transition\s+TransferCompletionMessage\s+STARTED→COMPLETED/);
    const theirs = JSON.parse((await cli(['transfers', '--role', 'provider', '--json'])).stdout) as unknown[];
    expect(theirs).toEqual([]); // the consumer provides nothing
  });

  it('suspends, resumes, fetches without completing, terminates; refused actions and fetches say why', async () => {
    const { id } = await startTransfer(agreementId);
    const providerPid = (await api(consumer, 'GET', `/transfers/${encodeURIComponent(id)}`)).providerPid as string;

    const suspended = await cli(['transfer', 'suspend', id, '--reason', 'night window over']);
    expect(suspended.status).toBe(0);
    expect(suspended.stdout.trim()).toBe(`transfer ${id} SUSPENDED (reason: night window over)`);
    const atProvider = await stateOn(provider, providerPid, 'SUSPENDED');
    expect(JSON.stringify(atProvider.timeline)).toContain('night window over');
    expectOneLineError(await cli(['fetch', id, '--out', 'never.bin']), 73, /SUSPENDED: data can only be fetched while STARTED/);
    expect(fs.existsSync(path.join(consumer.dir, 'never.bin'))).toBe(false);
    expectOneLineError(await cli(['transfer', 'suspend', id]), 73, /TransferSuspensionMessage sent in state SUSPENDED: only allowed from STARTED/);

    const resumed = await cli(['transfer', 'resume', id, '--json']);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id, state: 'STARTED' });
    await stateOn(provider, providerPid, 'STARTED');

    const fetched = await cli(['fetch', id, '--out', 'again.bin', '--no-complete', '--limit-rate', '8M', '--json']);
    expect(fetched.status).toBe(0);
    expect(JSON.parse(fetched.stdout)).toMatchObject({ transfer: id, bytes: content.length, sha256, verifiedAgainst: 'expected', completed: false });
    expect(JSON.parse(fetched.stdout).tokenRefreshes).toBeGreaterThanOrEqual(1); // 30 s tokens: refreshed through the provider before the attempt
    expect(fs.readFileSync(path.join(consumer.dir, 'again.bin')).equals(content)).toBe(true);
    expect((await api(consumer, 'GET', `/transfers/${encodeURIComponent(id)}`)).state).toBe('STARTED');

    const terminated = await cli(['transfer', 'terminate', id, '--reason', 'done with it']);
    expect(terminated.status).toBe(0);
    expect(terminated.stdout.trim()).toBe(`transfer ${id} TERMINATED (reason: done with it)`);
    const ended = await stateOn(provider, providerPid, 'TERMINATED');
    expect(ended.error).toContain('done with it');
    expectOneLineError(await cli(['transfer', 'complete', id]), 73, /terminal state/);
    expectOneLineError(await cli(['transfer', 'resume', id]), 73, /terminal state/);
  });

  it('resumes an interrupted fetch where it stopped, and refuses to fetch below the disk floor', async () => {
    const { id } = await startTransfer(agreementId);
    const out = path.join(consumer.dir, 'resumed.bin');

    // 512 KiB/s: interrupted (Ctrl-C) after about a second, with part of the file on disk.
    const interrupted = await cli(['fetch', id, '--out', 'resumed.bin', '--limit-rate', '512k'], {
      onSpawn: (kill) => {
        const poll = setInterval(() => {
          if (fs.existsSync(`${out}.part`) && fs.statSync(`${out}.part`).size > 100_000) {
            clearInterval(poll);
            kill('SIGINT');
          }
        }, 20);
      },
    });
    expect(interrupted.status).toBe(130);
    expect(interrupted.stderr).toMatch(/interrupted; resumed\.bin\.part is kept: run the same command again to resume/);
    expect(fs.existsSync(out)).toBe(false);
    const partial = fs.statSync(`${out}.part`).size;
    expect(partial).toBeGreaterThan(100_000);
    expect(partial).toBeLessThan(content.length);

    // Far more free space demanded than any disk has: refused before a byte moves, the .part kept.
    expectOneLineError(await cli(['fetch', id, '--out', 'resumed.bin'], { env: { HEDGEROW_HEALTH_DISK_FLOOR_MB: '1000000000' } }), 1, /not enough disk space/);
    expect(fs.statSync(`${out}.part`).size).toBe(partial);

    const resumed = await cli(['fetch', id, '--out', 'resumed.bin', '--json']);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ bytes: content.length, sha256, resumed: 1, completed: true });
    expect(fs.readFileSync(out).equals(content)).toBe(true);
    await stateOn(consumer, id, 'COMPLETED');
  });

  it('asks the provider to push, with the authorization from a file', async () => {
    const caCert = fs.readFileSync(path.join(tmp.dir, 'ca', 'ca.crt.pem'), 'utf8');
    const caKey = fs.readFileSync(path.join(tmp.dir, 'ca', 'ca.key.pem'), 'utf8');
    const issuer = { certificate: new X509Certificate(caCert), privateKey: createPrivateKey(caKey) };
    const { privateKey, publicKey } = generateKeyPair('ec');
    const cert = issueCertificate({ subject: { commonName: 'localhost' }, subjectPublicKey: publicKey, issuer, profile: 'connector', validityDays: 2, participantId: 'urn:sink', hostnames: ['localhost'] });
    const received: Buffer[] = [];
    let auth = '';
    const sink = https.createServer({ key: privateKeyToPem(privateKey), cert: certificateToPem(cert) }, (req, res) => {
      auth = req.headers.authorization ?? '';
      req.on('data', (c: Buffer) => received.push(c));
      req.on('end', () => res.writeHead(201).end());
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    try {
        fs.writeFileSync(path.join(consumer.dir, 'sink.auth'), 'Bearer sink-secret\n', { mode: 0o600 });
      const url = `https://localhost:${(sink.address() as AddressInfo).port}/inbox/yields`;
      const r = await cli(['transfer', 'start', agreementId, '--push', url, '--push-authorization-file', 'sink.auth']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/\(HttpData-PUSH\)/);
      expect(r.stdout).toMatch(new RegExp(`the provider (is pushing|pushed) the data to ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(r.stdout + r.stderr).not.toContain('sink-secret');
      const id = /^transfer (\S+) (STARTED|COMPLETED)$/m.exec(r.stdout)![1]!;
      await stateOn(consumer, id, 'COMPLETED');
      expect(Buffer.concat(received).equals(content)).toBe(true);
      expect(auth).toBe('Bearer sink-secret');
      const shown = await cli(['transfers', id]);
      expect(shown.stdout).not.toContain('sink-secret');
    } finally {
      sink.closeAllConnections();
      await new Promise((r) => sink.close(r));
    }
  });

  it('errors are one line with the documented exit codes', async () => {
    const cases: Array<[string[], number, RegExp, Record<string, string>?]> = [
      [['fetch', 'urn:uuid:nope', '--out', 'x.bin'], 66, /transfer urn:uuid:nope not found/],
      [['transfers', 'urn:uuid:nope'], 66, /transfer urn:uuid:nope not found/],
      [['transfer', 'suspend', 'urn:uuid:nope'], 66, /transfer urn:uuid:nope not found/],
      [['transfer', 'start', 'urn:uuid:no-such-agreement'], 66, /agreement urn:uuid:no-such-agreement not found/],
      [['fetch', 'urn:uuid:nope'], 64, /--out FILE is required/],
      [['fetch', 'urn:uuid:nope', '--out', 'missing-dir/x.bin'], 64, /does not exist/],
      [['fetch', 'urn:uuid:nope', '--out', 'x.bin', '--limit-rate', 'fast'], 64, /--limit-rate must be bytes per second/],
      [['transfer', 'start', 'a', '--push-authorization-file', 'f'], 64, /needs --push URL/],
      [['transfer', 'start', 'a', '--push', 'http://plain.example/x'], 64, /https:\/\//],
      [['transfers', '--state', 'DONE'], 64, /--state must be one of REQUESTED, STARTED, SUSPENDED, COMPLETED, TERMINATED/],
      [['transfer', 'complete', 'x', '--reason', 'r'], 64, /unknown option '--reason'/i],
      [['transfers'], 77, /HEDGEROW_API_KEY/, { HEDGEROW_API_KEY: 'hr_wrong' }],
    ];
    const runs = await Promise.all(cases.map(([args, , , env]) => cli(args, env ? { env } : {})));
    cases.forEach(([, status, message], i) => expectOneLineError(runs[i]!, status, message));
    const group = await cli(['transfer', '--help']);
    expect(group.status).toBe(0);
    expect(group.stdout).toMatch(/transfer start\s+start a transfer/);
    expect(fs.existsSync(path.join(consumer.dir, 'x.bin'))).toBe(false);
  });
});

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { runCli, startNode, tempDir } from '../helpers/cli';

/** Operator mistakes and broken state give one clear line and a non-zero exit, never a stack trace. */
describe('bad input on the command line and at start', () => {
  const tmp = tempDir();
  beforeAll(() => {
    const init = runCli(['init', '--hostname', 'localhost'], { cwd: tmp.dir });
    expect(init.status).toBe(0);
  });
  afterAll(() => tmp.cleanup());

  const oneLine = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hedgerow: /);
    expect(stderr).not.toMatch(/\n\s+at /);
  };

  it('a malformed configuration file: exit 2 naming the problem', () => {
    fs.writeFileSync(path.join(tmp.dir, 'bad.json'), '{"publicApi": {"port": "eighty"}}');
    const r = runCli(['start', '--config', 'bad.json'], { cwd: tmp.dir });
    expect(r.status).toBe(2);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/publicApi\.port/);
  });

  it('a port in use: one line naming the port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = runCli(['start'], { cwd: tmp.dir, env: { HEDGEROW_PUBLIC_API_HOST: '127.0.0.1', HEDGEROW_PUBLIC_API_PORT: String(port), HEDGEROW_MANAGEMENT_API_PORT: '0' } });
      expect(r.status).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('a wrong PKCS#12 password: one line, nothing replaced', () => {
    const before = fs.readFileSync(path.join(tmp.dir, 'certs', 'connector.crt.pem'), 'utf8');
    const p12 = path.join(tmp.dir, 'id.p12');
    const o = spawnSync('openssl', ['pkcs12', '-export', '-in', 'certs/connector.crt.pem', '-inkey', 'certs/connector.key.pem', '-out', p12, '-passout', 'pass:right'], { cwd: tmp.dir, encoding: 'utf8' });
    expect(o.status).toBe(0);
    fs.writeFileSync(path.join(tmp.dir, 'pw'), 'wrong\n');
    const r = runCli(['certs', 'import', '--p12', p12, '--password-file', 'pw'], { cwd: tmp.dir });
    expect(r.status).not.toBe(0);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/wrong PKCS#12 password/);
    expect(fs.readFileSync(path.join(tmp.dir, 'certs', 'connector.crt.pem'), 'utf8')).toBe(before);
  });

  it('a corrupt database: start refuses with one line and leaves the file as it was', () => {
    const other = tempDir();
    try {
      expect(runCli(['init', '--hostname', 'localhost'], { cwd: other.dir }).status).toBe(0);
      const db = path.join(other.dir, 'data', 'hedgerow.db');
      const garbage = Buffer.alloc(16384, 0x5a);
      fs.writeFileSync(db, garbage);
      const r = runCli(['start'], { cwd: other.dir, env: { HEDGEROW_PUBLIC_API_PORT: '0', HEDGEROW_MANAGEMENT_API_PORT: '0' } });
      expect(r.status).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/corrupt or not a SQLite database/);
      expect(fs.readFileSync(db).equals(garbage)).toBe(true);
      const doctor = runCli(['doctor'], { cwd: other.dir });
      expect(doctor.status).toBe(1);
      expect(doctor.stdout).toMatch(/^FAIL\s+database/m);
    } finally {
      other.cleanup();
    }
  });

  it('an untrusted certificate chain is refused on import', () => {
    const foreign = tempDir();
    try {
      expect(runCli(['init', '--hostname', 'localhost'], { cwd: foreign.dir }).status).toBe(0);
      const r = runCli(['certs', 'import', '--chain', path.join(foreign.dir, 'certs', 'connector.crt.pem'), '--key', path.join(foreign.dir, 'certs', 'connector.key.pem'), '--force'], { cwd: tmp.dir });
      expect(r.status).not.toBe(0);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/not issued by a trusted CA|untrusted/i);
    } finally {
      foreign.cleanup();
    }
  });

  it('a failed import with --trust-anchor leaves no new trust anchor behind', () => {
    const foreign = tempDir();
    try {
      expect(runCli(['init', '--hostname', 'localhost'], { cwd: foreign.dir }).status).toBe(0);
      expect(runCli(['ca', 'init', '--dir', 'other-ca', '--name', 'Some other CA'], { cwd: foreign.dir }).status).toBe(0);
      const trustDir = path.join(tmp.dir, 'certs', 'trust');
      const before = fs.readdirSync(trustDir).sort();
      const importing = (anchor: string, force: string[] = []) =>
        runCli(['certs', 'import', '--chain', path.join(foreign.dir, 'certs', 'connector.crt.pem'), '--key', path.join(foreign.dir, 'certs', 'connector.key.pem'), '--trust-anchor', anchor, ...force], { cwd: tmp.dir });
      // The chain is not valid to the anchor given.
      const invalid = importing(path.join(foreign.dir, 'other-ca', 'ca.crt.pem'), ['--force']);
      expect(invalid.status).not.toBe(0);
      expect(invalid.stderr).toMatch(/not issued by a trusted CA/);
      expect(fs.readdirSync(trustDir).sort()).toEqual(before);
      // The chain is valid to it, but the import is refused when saving (another key, no --force).
      const refused = importing(path.join(foreign.dir, 'certs', 'dev-ca', 'ca.crt.pem'));
      expect(refused.status).not.toBe(0);
      oneLine(refused.stderr);
      expect(refused.stderr).toMatch(/without --force/);
      expect(fs.readdirSync(trustDir).sort()).toEqual(before);
    } finally {
      foreign.cleanup();
    }
  });

  it('readiness reports degraded below the free-disk floor', async () => {
    const node = await startNode({ cwd: tmp.dir, env: { HEDGEROW_HEALTH_DISK_FLOOR_MB: String(1024 * 1024 * 1024) } });
    try {
      const health = await request(`${node.managementUrl}/health`);
      const body = (await health.body.json()) as { status: string; ready: boolean; checks: { disk: { status: string; detail: string } } };
      expect(body).toMatchObject({ status: 'degraded', ready: false });
      expect(body.checks.disk.detail).toMatch(/below the floor/);
      const ready = await request(`${node.managementUrl}/health/ready`);
      expect(ready.statusCode).toBe(503);
      await ready.body.dump();
    } finally {
      await node.stop();
    }
  });

  it('a renewed certificate is served without restart', async () => {
    const node = await startNode({ cwd: tmp.dir });
    const presented = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: node.publicPort, rejectUnauthorized: false }, () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.once('error', reject);
      });
    try {
      const before = await presented();
      const renew = runCli(['certs', 'renew', '--days', '30'], { cwd: tmp.dir });
      expect(renew.status).toBe(0);
      const deadline = Date.now() + 10_000;
      let after = before;
      while (after === before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        after = await presented();
      }
      expect(after).not.toBe(before);
      expect(node.logs.join('\n')).toContain('connector certificate reloaded');
    } finally {
      await node.stop();
    }
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'undici';
import { runCli, startNode, tempDir, type RunningNode } from '../helpers/cli';

/** init + start as child processes, then HTTPS with the development CA, did.json, health, metrics, auth, SIGTERM. */
describe('hedgerow node lifecycle (child process, real HTTPS)', () => {
  const tmp = tempDir();
  let node: RunningNode | undefined;
  let apiKey: string;
  let agent: Agent;

  beforeAll(async () => {
    const init = runCli(['init', '--participant-id', 'did:web:coop.example', '--hostname', 'localhost', '--organization', 'Coop Example', '--country', 'FR'], { cwd: tmp.dir });
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    node = await startNode({ cwd: tmp.dir });
    agent = new Agent({ connect: { ca: fs.readFileSync(path.join(tmp.dir, 'certs', 'dev-ca', 'ca.crt.pem')) } });
  });

  afterAll(async () => {
    await node?.stop('SIGKILL');
    await agent?.close();
    tmp.cleanup();
  });

  it('writes the key 0600 in a 0700 directory and refuses to overwrite it without --force', () => {
    expect(fs.statSync(path.join(tmp.dir, 'certs', 'connector.key.pem')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(tmp.dir, 'certs')).mode & 0o777).toBe(0o700);
    const again = runCli(['init'], { cwd: tmp.dir });
    expect(again.status).toBe(73);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/already exists.*--force/);
  });

  it('serves the DID document over HTTPS trusted through the development CA', async () => {
    const res = await request(`https://localhost:${node!.publicPort}/.well-known/did.json`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    const doc = (await res.body.json()) as Record<string, any>;
    expect(doc.id).toBe('did:web:coop.example');
    const vm = doc.verificationMethod[0];
    expect(vm.type).toBe('JsonWebKey2020');
    expect(doc.assertionMethod).toEqual([vm.id]);
    expect(doc.authentication).toEqual([vm.id]);
    expect(vm.publicKeyJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(vm.publicKeyJwk.d).toBeUndefined();
    expect(vm.publicKeyJwk.x5c).toHaveLength(1);
    const chain = await request(vm.publicKeyJwk.x5u, { dispatcher: agent });
    expect(await chain.body.text()).toContain('BEGIN CERTIFICATE');
  });

  it('refuses TLS below 1.2', () => {
    const old = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${node!.publicPort}`, '-tls1_1'], { input: '', encoding: 'utf8' });
    expect(old.status).not.toBe(0);
    expect(old.stderr).toMatch(/alert protocol version|no protocols available/);
    const current = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${node!.publicPort}`, '-tls1_2'], { input: '', encoding: 'utf8' });
    expect(current.stdout).toMatch(/Protocol\s*:\s*TLSv1\.2/);
  });

  it('reports health without a key, and metrics only with the API key', async () => {
    const health = await request(`${node!.managementUrl}/health`);
    expect(health.statusCode).toBe(200);
    const body = (await health.body.json()) as Record<string, any>;
    expect(body).toMatchObject({ live: true, status: 'ok', ready: true, participantId: 'did:web:coop.example' });
    expect(body.device.arch).toBe(process.arch);

    const denied = await request(`${node!.managementUrl}/metrics`);
    expect(denied.statusCode).toBe(401);
    expect(await denied.body.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const wrong = await request(`${node!.managementUrl}/metrics`, { headers: { authorization: 'Bearer hr_wrong' } });
    expect(wrong.statusCode).toBe(401);
    await wrong.body.dump();

    const metrics = await request(`${node!.managementUrl}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(metrics.statusCode).toBe(200);
    const text = await metrics.body.text();
    for (const name of [
      'hedgerow_process_resident_memory_bytes',
      'hedgerow_process_cpu_seconds_total',
      'hedgerow_nodejs_eventloop_lag_seconds',
      'hedgerow_http_request_duration_seconds_bucket',
      'hedgerow_http_requests_total',
      'hedgerow_database_size_bytes',
      'hedgerow_data_dir_free_bytes',
      'hedgerow_certificate_expiry_days',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/hedgerow_http_requests_total\{listener="public",method="GET",route="\/\.well-known\/did\.json",status="200"\} \d/);
  });

  it('never logs the API key or the private key', () => {
    const logs = node!.logs.join('\n');
    expect(logs).not.toContain(apiKey);
    expect(logs).not.toContain('PRIVATE KEY');
  });

  it('exits 0 on SIGTERM after closing cleanly', async () => {
    const code = await node!.stop('SIGTERM');
    expect(code).toBe(0);
    expect(node!.logs.join('\n')).toContain('hedgerow stopped');
    const doctor = runCli(['doctor'], { cwd: tmp.dir });
    expect(doctor.stdout).toMatch(/^OK\s+database\s+.*passes integrity_check/m);
    node = undefined;
  });
});

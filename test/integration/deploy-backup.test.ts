import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { CLI, childEnv, runCli, startNode, tempDir, type RunningNode } from '../helpers/cli';

/** A command run without blocking this process's event loop (the write load must go on meanwhile). */
function runCliAsync(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Online backup of a running connector under write load, then a restore on a "new machine" (empty directories,
 * its own config file) that starts with the same identity, the same API key and every write acknowledged before
 * the backup began.
 */
describe('backup of a running connector and restore on a new machine', () => {
  const tmp = tempDir('hedgerow-deploy-backup-');
  const origin = path.join(tmp.dir, 'origin');
  const replacement = path.join(tmp.dir, 'replacement');
  let node: RunningNode | undefined;
  let restored: RunningNode | undefined;
  let apiKey: string;

  beforeAll(() => {
    fs.mkdirSync(origin);
    fs.mkdirSync(replacement);
    const init = runCli(['init', '--participant-id', 'did:web:coop.example', '--hostname', 'localhost'], { cwd: origin });
    expect(init.status).toBe(0);
    apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    fs.writeFileSync(path.join(origin, 'hedgerow.json'), JSON.stringify({ health: { refreshSeconds: 30 } }));
  });

  afterAll(async () => {
    await node?.stop('SIGKILL');
    await restored?.stop('SIGKILL');
    tmp.cleanup();
  });

  it('copies a consistent database while writes go on, and the restored node is the same node', async () => {
    node = await startNode({ cwd: origin, args: ['--config', 'hedgerow.json'] });
    const ackedAt = new Map<string, number>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const res = await request(`${node!.managementUrl}/api/v1/assets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: `asset-${i}`, source: { type: 'http', url: `https://data.example/${i}` } }),
        });
        await res.body.dump();
        if (res.statusCode === 201) ackedAt.set(`asset-${i}`, Date.now());
      }
    })();
    await new Promise((r) => setTimeout(r, 300));

    const backupStarted = Date.now();
    const passphrase = { HEDGEROW_BACKUP_PASSPHRASE: 'hedgerow test passphrase' };
    const backup = await runCliAsync(['backup', '--config', 'hedgerow.json', '--out', path.join(tmp.dir, 'coop.tar.gz')], { cwd: origin, env: passphrase });
    const writesDuringBackup = [...ackedAt.values()].filter((t) => t >= backupStarted).length;
    writing = false;
    await writer;
    expect(backup.stderr).toBe('');
    expect(backup.status).toBe(0);
    expect(writesDuringBackup).toBeGreaterThan(0); // the connector kept answering while the backup ran
    expect(fs.statSync(path.join(tmp.dir, 'coop.tar.gz')).mode & 0o777).toBe(0o600);
    const before = [...ackedAt].filter(([, t]) => t < backupStarted).map(([id]) => id);
    expect(before.length).toBeGreaterThan(0);

    // Restore on the replacement machine: it has its own (empty) config file, which the backup's replaces.
    fs.writeFileSync(path.join(replacement, 'hedgerow.json'), '{}');
    const restore = runCli(['restore', path.join(tmp.dir, 'coop.tar.gz'), '--config', 'hedgerow.json'], { cwd: replacement, env: passphrase });
    expect(restore.stderr).toBe('');
    expect(restore.status).toBe(0);
    expect(fs.readFileSync(path.join(replacement, 'hedgerow.json'), 'utf8')).toBe(fs.readFileSync(path.join(origin, 'hedgerow.json'), 'utf8'));
    expect(runCli(['doctor', '--config', 'hedgerow.json'], { cwd: replacement }).stdout).toMatch(/^OK\s+database\s+.*passes integrity_check/m);

    restored = await startNode({ cwd: replacement, args: ['--config', 'hedgerow.json'] });
    const agent = new Agent({ connect: { ca: fs.readFileSync(path.join(replacement, 'certs', 'dev-ca', 'ca.crt.pem')) } });
    try {
      const did = await request(`https://localhost:${restored.publicPort}/.well-known/did.json`, { dispatcher: agent });
      expect(((await did.body.json()) as { id: string }).id).toBe('did:web:coop.example');
    } finally {
      await agent.close();
    }
    const ids = new Set<string>();
    for (let after = ''; ; ) {
      const res = await request(`${restored.managementUrl}/api/v1/assets?limit=500&after=${after}`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(res.statusCode).toBe(200); // the original management API key works on the restored node
      const page = (await res.body.json()) as Array<{ id: string }>;
      page.forEach((a) => ids.add(a.id));
      if (page.length < 500) break;
      after = page[page.length - 1]!.id;
    }
    expect(before.filter((id) => !ids.has(id))).toEqual([]);
  }, 60_000);
});

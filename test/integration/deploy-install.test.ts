import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, childEnv, tempDir } from '../helpers/cli';

/**
 * deploy/install.sh against a temporary root prefix: layout and modes, idempotence (a second run changes nothing,
 * compared by a listing of every path with type, mode, size, mtime and SHA-256), that the installed program runs
 * with production dependencies only, an upgrade (backup first, program replaced, data kept), uninstall and purge.
 */
// Each step runs whole installs or CLI processes: slow when the machine is busy.
jest.setTimeout(120_000);

describe('deploy/install.sh --root PREFIX', () => {
  const tmp = tempDir('hedgerow-install-');
  // A frozen copy of the built package, so a rebuild elsewhere during the test cannot look like an upgrade.
  const source = path.join(tmp.dir, 'package');
  const root = path.join(tmp.dir, 'root');
  const at = (p: string) => path.join(root, p);
  const mode = (p: string) => fs.statSync(at(p)).mode & 0o777;

  function install(...args: string[]): { status: number | null; out: string } {
    const r = spawnSync('bash', [path.join(source, 'deploy', 'install.sh'), '--root', root, ...args], { encoding: 'utf8', env: childEnv(), timeout: 120_000 });
    return { status: r.status, out: r.stdout + r.stderr };
  }

  /** Every path under the root with what would show any change. */
  function listing(): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
        const p = path.join(rel, e.name);
        const st = fs.lstatSync(path.join(root, p));
        const base = `${p} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
        if (e.isDirectory()) {
          out.push(base);
          walk(p);
        } else if (e.isSymbolicLink()) out.push(`${base} -> ${fs.readlinkSync(path.join(root, p))}`);
        else out.push(`${base} ${createHash('sha256').update(fs.readFileSync(path.join(root, p))).digest('hex')}`);
      }
    };
    walk('');
    return out.sort();
  }

  beforeAll(() => {
    fs.mkdirSync(source);
    for (const entry of ['dist', 'config', 'spec', 'package.json', 'package-lock.json', 'README.md', 'deploy']) {
      fs.cpSync(path.join(ROOT, entry), path.join(source, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(source, 'node_modules'));
  });
  afterAll(() => tmp.cleanup());

  let firstListing: string[];

  it('installs program, configuration, keys and unit with the right modes, and says what it skipped', () => {
    const r = install('--hostname', 'localhost', '--participant-id', 'did:web:farm1.coop.example');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/skipped: useradd --system hedgerow \(--root was given\)/);
    expect(r.out).toMatch(/skipped: systemctl enable --now hedgerow\.service \(--root was given\)/);
    expect(r.out).toMatch(/initialised hedgerow node did:web:farm1\.coop\.example/);
    expect(r.out).toMatch(/management API key[^:]*: hr_\S+/);

    for (const p of ['opt/hedgerow/dist/cli/main.js', 'opt/hedgerow/config/default.json', 'opt/hedgerow/spec', 'opt/hedgerow/package.json', 'opt/hedgerow/node_modules/better-sqlite3']) {
      expect(fs.existsSync(at(p))).toBe(true);
    }
    // Production dependencies only.
    for (const dev of ['jest', 'typescript', 'ts-jest', 'yaml']) expect(fs.existsSync(at(`opt/hedgerow/node_modules/${dev}`))).toBe(false);

    expect(JSON.parse(fs.readFileSync(at('etc/hedgerow/hedgerow.json'), 'utf8'))).toMatchObject({ dataDir: '/var/lib/hedgerow', certsDir: '/etc/hedgerow/certs' });
    expect(mode('etc/hedgerow')).toBe(0o750);
    expect(mode('etc/hedgerow/hedgerow.json')).toBe(0o640);
    expect(mode('etc/hedgerow/certs')).toBe(0o700);
    expect(mode('etc/hedgerow/certs/connector.key.pem')).toBe(0o600);
    expect(mode('var/lib/hedgerow')).toBe(0o700);
    expect(fs.existsSync(at('var/lib/hedgerow/hedgerow.db'))).toBe(true);

    // The unit as shipped, and the program it starts exists and is executable.
    const unit = fs.readFileSync(at('etc/systemd/system/hedgerow.service'), 'utf8');
    expect(unit).toBe(fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', 'hedgerow.service'), 'utf8'));
    const execStart = /^ExecStart=(\S+)/m.exec(unit)![1]!;
    expect(fs.statSync(at(execStart)).mode & 0o111).toBeTruthy();
    expect(fs.readFileSync(at(execStart), 'utf8')).toContain(`exec ${process.execPath} /opt/hedgerow/dist/cli/main.js "$@"`);
    expect(fs.readlinkSync(at('usr/local/bin/hedgerow'))).toBe('/opt/hedgerow/bin/hedgerow');
    firstListing = listing();
  });

  it('changes nothing when run a second time', () => {
    const r = install('--hostname', 'localhost');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/program in .* is up to date/);
    expect(r.out).toMatch(/kept .*hedgerow\.json/);
    expect(r.out).toMatch(/kept the connector key/);
    expect(r.out).not.toMatch(/management API key/);
    expect(listing()).toEqual(firstListing);
  });

  it('installs a program that starts with its production dependencies only', async () => {
    const proc = spawn(
      process.execPath,
      [at('opt/hedgerow/dist/cli/main.js'), 'start', '--config', at('etc/hedgerow/hedgerow.json'), '--data-dir', at('var/lib/hedgerow'), '--certs-dir', at('etc/hedgerow/certs')],
      { env: childEnv({ HEDGEROW_PUBLIC_API_PORT: '0', HEDGEROW_MANAGEMENT_API_PORT: '0', HEDGEROW_PUBLIC_API_HOST: '127.0.0.1' }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const listening = await new Promise<{ managementUrl: string }>((resolve, reject) => {
        let buffer = '';
        const timer = setTimeout(() => reject(new Error(`no "hedgerow listening" line: ${buffer}`)), 20_000);
        proc.stderr.on('data', (d) => (buffer += d));
        proc.stdout.on('data', (d) => {
          buffer += d;
          // log.format "json" from the installed configuration: every line is a JSON object.
          for (const line of buffer.split('\n').filter((l) => l.includes('"hedgerow listening"'))) {
            clearTimeout(timer);
            resolve(JSON.parse(line));
          }
        });
        proc.once('exit', (code) => reject(new Error(`exited ${code}: ${buffer}`)));
      });
      const health = await fetch(`${listening.managementUrl}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ live: true, participantId: 'did:web:farm1.coop.example' });
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });

  it('upgrades: backs the node up first, replaces the program, keeps key and configuration', () => {
    fs.appendFileSync(at('opt/hedgerow/README.md'), '\nan older release\n'); // what an upgrade looks like from here
    fs.writeFileSync(at('opt/hedgerow/dist/left-over-from-old-release.js'), '');
    const key = fs.readFileSync(at('etc/hedgerow/certs/connector.key.pem'));
    const r = install();
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/backed up the node before the upgrade/);
    const backups = fs.readdirSync(at('var/lib/hedgerow/backups'));
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(/^pre-upgrade-\d+\.\d+\.\d+-\d{8}T\d{6}Z\.tar\.gz$/);
    expect(mode(`var/lib/hedgerow/backups/${backups[0]}`)).toBe(0o600);
    expect(fs.readFileSync(at('opt/hedgerow/README.md'), 'utf8')).toBe(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    expect(fs.existsSync(at('opt/hedgerow/dist/left-over-from-old-release.js'))).toBe(false); // replaced whole
    expect(fs.readFileSync(at('etc/hedgerow/certs/connector.key.pem')).equals(key)).toBe(true);
    expect(fs.readdirSync(at('opt'))).toEqual(['hedgerow']); // no staging or old copy left behind
  });

  it('--uninstall removes program and unit but keeps configuration, keys and data; --purge removes them too', () => {
    const kept = listing().filter((l) => l.startsWith('etc/hedgerow') || l.startsWith('var/lib/hedgerow'));
    const r = install('--uninstall');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/kept .*etc\/hedgerow .*var\/lib\/hedgerow/);
    expect(fs.existsSync(at('opt/hedgerow'))).toBe(false);
    expect(fs.existsSync(at('etc/systemd/system/hedgerow.service'))).toBe(false);
    expect(fs.existsSync(at('usr/local/bin/hedgerow'))).toBe(false);
    expect(listing().filter((l) => l.startsWith('etc/hedgerow') || l.startsWith('var/lib/hedgerow'))).toEqual(kept);

    const purge = install('--uninstall', '--purge');
    expect(purge.status).toBe(0);
    expect(purge.out).toMatch(/skipped: userdel hedgerow \(--root was given\)/);
    expect(fs.existsSync(at('etc/hedgerow'))).toBe(false);
    expect(fs.existsSync(at('var/lib/hedgerow'))).toBe(false);
  });
});

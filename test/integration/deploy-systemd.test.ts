import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from '../helpers/cli';

const UNIT = path.join(ROOT, 'deploy', 'systemd', 'hedgerow.service');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const HAVE_SYSTEMD_ANALYZE = !analyze.error;
if (!HAVE_SYSTEMD_ANALYZE) {
  // .ci/run installs Debian's systemd package; a developer machine without it skips, saying so.
  console.warn('SKIPPED deploy-systemd verification: systemd-analyze is not installed (apt-get install systemd)');
}
const withSystemd = HAVE_SYSTEMD_ANALYZE ? it : it.skip;

/** The unit's settings, last value wins; repeated keys (Environment=) are kept as a list too. */
function parseUnit(text: string): { get: (key: string) => string | undefined; all: (key: string) => string[] } {
  const entries = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('['))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  return { get: (key) => entries.filter(([k]) => k === key).pop()?.[1], all: (key) => entries.filter(([k]) => k === key).map(([, v]) => v) };
}

/**
 * A root where the paths the unit names exist (the program, /bin/kill, systemd's own units), so that
 * `systemd-analyze verify --root` checks the unit file exactly as shipped.
 */
function verificationRoot(dir: string): string {
  fs.mkdirSync(path.join(dir, 'opt/hedgerow/bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'opt/hedgerow/bin/hedgerow'), '#!/bin/sh\n', { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/kill', path.join(dir, 'bin/kill'));
  fs.chmodSync(path.join(dir, 'bin/kill'), 0o755);
  fs.mkdirSync(path.join(dir, 'usr/lib/systemd'), { recursive: true });
  fs.cpSync('/usr/lib/systemd/system', path.join(dir, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  fs.mkdirSync(path.join(dir, 'etc/systemd/system'), { recursive: true });
  fs.copyFileSync(UNIT, path.join(dir, 'etc/systemd/system/hedgerow.service'));
  return path.join(dir, 'etc/systemd/system/hedgerow.service');
}

describe('deploy/systemd/hedgerow.service', () => {
  const unit = parseUnit(fs.readFileSync(UNIT, 'utf8'));
  const tmp = tempDir('hedgerow-systemd-');
  afterAll(() => tmp.cleanup());

  it('runs the installed CLI as a dedicated user with the installed configuration', () => {
    expect(unit.get('User')).toBe('hedgerow');
    expect(unit.get('ExecStart')).toBe('/opt/hedgerow/bin/hedgerow start --config /etc/hedgerow/hedgerow.json');
    expect(unit.get('WorkingDirectory')).toBe('/var/lib/hedgerow');
  });

  it('is hardened: read-only system but for data and certificates, no capabilities, few address families', () => {
    expect(unit.get('ProtectSystem')).toBe('strict');
    expect(unit.get('ReadWritePaths')!.split(/\s+/).sort()).toEqual(['/etc/hedgerow/certs', '/var/lib/hedgerow']);
    expect(unit.get('NoNewPrivileges')).toBe('yes');
    expect(unit.get('PrivateTmp')).toBe('yes');
    expect(unit.get('ProtectHome')).toBe('yes');
    expect(unit.get('CapabilityBoundingSet')).toBe('');
    expect(unit.get('RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    expect(unit.get('MemoryDenyWriteExecute')).toBeUndefined(); // would kill V8's JIT
  });

  it('fits a 1 GB board, restarts on failure with a delay, and logs JSON lines to the journal', () => {
    const mib = (v: string) => Number(/^(\d+)M$/.exec(v)![1]);
    expect(mib(unit.get('MemoryMax')!)).toBeLessThanOrEqual(512);
    const heap = Number(/--max-old-space-size=(\d+)/.exec(unit.all('Environment').join(' '))![1]);
    expect(heap).toBeLessThan(mib(unit.get('MemoryMax')!)); // GC before the OOM killer
    expect(unit.get('Restart')).toBe('on-failure');
    expect(unit.get('RestartSec')).toMatch(/^\d+s$/);
    expect(unit.get('StandardOutput')).toBe('journal');
    // JSON lines come from log.format "auto" (stdout is not a TTY under systemd); nothing here may force pretty output.
    expect(unit.all('Environment').join(' ')).not.toMatch(/HEDGEROW_LOG_FORMAT=pretty/);
  });

  withSystemd('passes systemd-analyze verify', () => {
    const file = verificationRoot(path.join(tmp.dir, 'root'));
    const r = spawnSync('systemd-analyze', ['verify', `--root=${path.join(tmp.dir, 'root')}`, file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  withSystemd('has a low exposure level in systemd-analyze security (offline)', () => {
    const file = verificationRoot(path.join(tmp.dir, 'root-security'));
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${path.join(tmp.dir, 'root-security')}`, '--no-pager', file], { encoding: 'utf8' });
    const level = Number(/Overall exposure level for hedgerow\.service: ([\d.]+)/.exec(r.stdout)?.[1]);
    console.log(`systemd-analyze security: exposure level ${level} (0 = most restricted, 10 = unrestricted)`);
    expect(level).toBeLessThanOrEqual(2.5);
  });
});

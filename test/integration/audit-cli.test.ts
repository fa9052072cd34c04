import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { runCli, tempDir, ROOT } from '../helpers/cli';
import { Store } from '../../src/store/store';
import { AuditTrail } from '../../src/audit/audit-trail';
import type { AuditBundle } from '../../src/audit/bundle';

/**
 * `hedgerow audit verify` and `hedgerow audit export` on an initialised node: the bundle verifies offline in another
 * directory (no database, no configuration), a tampered bundle and rows altered or deleted directly in the database
 * file are named, and the head signature checks with plain openssl as the README shows.
 */
describe('hedgerow audit (CLI)', () => {
  const tmp = tempDir('hedgerow-audit-cli-');
  const node = path.join(tmp.dir, 'node');
  const elsewhere = path.join(tmp.dir, 'elsewhere'); // "another machine": only the bundle and the CA certificate
  const bundleFile = path.join(elsewhere, 'bundle.json');
  const caFile = path.join(elsewhere, 'dataspace-ca.pem');

  const cli = (args: string[], cwd = node) => runCli(args, { cwd });

  beforeAll(() => {
    fs.mkdirSync(node);
    fs.mkdirSync(elsewhere);
    const init = cli(['init', '--participant-id', 'did:web:coop.example', '--hostname', 'localhost']);
    expect(init.status).toBe(0);
    fs.copyFileSync(path.join(node, 'certs', 'dev-ca', 'ca.crt.pem'), caFile);
    // Entries as the connector writes them (the trail appends inside the caller's transaction).
    const store = Store.open(path.join(node, 'data'));
    const trail = new AuditTrail({ store, self: () => 'did:web:coop.example' });
    for (let i = 1; i <= 6; i++) {
      trail.append({ processId: i % 2 ? 'urn:uuid:neg-1' : 'urn:uuid:tp-1', actor: 'did:web:agro.example', event: i % 2 ? 'negotiation.received' : 'data.access', detail: { i } });
    }
    store.close();
  });

  afterAll(() => tmp.cleanup());

  it('verifies the local trail, exports a signed bundle, and the bundle verifies offline elsewhere', () => {
    const first = cli(['audit', 'verify']);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/6 entries \(seq 1\.\.6\)/);
    expect(first.stdout).toMatch(/no signed head/);
    expect(first.stdout).toMatch(/RESULT: PASS/);

    const exported = cli(['audit', 'export', '--out', bundleFile]);
    expect(exported.stderr).toBe('');
    expect(exported.status).toBe(0);
    expect(exported.stdout).toMatch(/6 entries \(seq 1\.\.6, 6 matching\), head signed at seq 6/);

    const local = cli(['audit', 'verify', '--json']);
    expect(local.status).toBe(0);
    expect(JSON.parse(local.stdout)).toMatchObject({ ok: true, signedHeads: { checked: 1, valid: 1, lastSignedSeq: 6 }, unsignedEntries: 0, anchored: true });

    // Another machine: no database, no configuration, no certificates directory; the CA given as anchor.
    const offline = cli(['audit', 'verify', '--bundle', 'bundle.json', '--anchor', 'dataspace-ca.pem'], elsewhere);
    expect(offline.status).toBe(0);
    expect(offline.stdout).toMatch(/audit trail bundle of did:web:coop\.example: 6 entries/);
    expect(offline.stdout).toMatch(/chain valid to CN=/);
    expect(offline.stdout).toMatch(/RESULT: PASS/);
    expect(fs.existsSync(path.join(elsewhere, 'data'))).toBe(false);

    // Without an anchor it still checks everything it can, says what it could not, and does not exit 0:
    // a bundle signed by anyone's own certificate would pass otherwise.
    const bare = cli(['audit', 'verify', '--bundle', 'bundle.json'], elsewhere);
    expect(bare.status).toBe(3);
    expect(bare.stdout).toMatch(/no trust anchor given.*SHA-256 [0-9A-F:]+/);
    expect(bare.stdout).toMatch(/RESULT: PASS, BUT THE SIGNER IS NOT ANCHORED/);

    // A process filter exports the contiguous range between its first and last entry.
    const partial = cli(['audit', 'export', '--process', 'urn:uuid:tp-1', '--out', path.join(elsewhere, 'tp.json')]);
    expect(partial.status).toBe(0);
    const tp = JSON.parse(fs.readFileSync(path.join(elsewhere, 'tp.json'), 'utf8')) as AuditBundle;
    expect(tp.entries.map((e) => e.seq)).toEqual([2, 3, 4, 5, 6]);
    expect(tp.selection.seqs).toEqual([2, 4, 6]);
    expect(cli(['audit', 'verify', '--bundle', 'tp.json', '--anchor', 'dataspace-ca.pem'], elsewhere).status).toBe(0);
  });

  it('names the first broken entry of a tampered bundle, and refuses a foreign trust anchor', () => {
    const bundle = JSON.parse(fs.readFileSync(bundleFile, 'utf8')) as AuditBundle;
    (bundle.entries[2]!.detail as Record<string, number>).i = 300;
    fs.writeFileSync(path.join(elsewhere, 'tampered.json'), JSON.stringify(bundle));
    const r = cli(['audit', 'verify', '--bundle', 'tampered.json', '--anchor', 'dataspace-ca.pem'], elsewhere);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FIRST BROKEN: seq 3: hash-mismatch/);
    expect(r.stdout).toMatch(/RESULT: FAIL/);

    const otherCa = path.join(tmp.dir, 'other-ca');
    expect(cli(['ca', 'init', '--dir', otherCa, '--name', 'Some other CA']).status).toBe(0);
    const foreign = cli(['audit', 'verify', '--bundle', 'bundle.json', '--anchor', path.join(otherCa, 'ca.crt.pem')], elsewhere);
    expect(foreign.status).toBe(1);
    expect(foreign.stdout).toMatch(/head-untrusted/);
  });

  it('checks the head signature with plain openssl, as the README shows', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('Checking the signature with openssl'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const run = (dir: string) => spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8' });
    const ok = run(elsewhere);
    expect(`${ok.stdout}${ok.stderr}`).toMatch(/Verified OK/);
    expect(ok.status).toBe(0);
    // The signed payload names the last entry's hash.
    const payload = JSON.parse(spawnSync('bash', ['-c', "cut -d. -f2 head.jws | tr '_-' '/+' | base64 -d 2>/dev/null"], { cwd: elsewhere, encoding: 'utf8' }).stdout.replace(/[^}]*$/, ''));
    const bundle = JSON.parse(fs.readFileSync(bundleFile, 'utf8')) as AuditBundle;
    expect(payload).toMatchObject({ seq: 6, hash: bundle.entries[5]!.hash, participantId: 'did:web:coop.example' });

    // The same recipe over a head whose payload was changed fails.
    const forged = path.join(tmp.dir, 'forged');
    fs.mkdirSync(forged);
    const [h, , s] = bundle.head.jws.split('.');
    const fake = Buffer.from(JSON.stringify({ ...payload, seq: 7 })).toString('base64url');
    fs.writeFileSync(path.join(forged, 'bundle.json'), JSON.stringify({ ...bundle, head: { ...bundle.head, jws: `${h}.${fake}.${s}` } }));
    const bad = run(forged);
    expect(bad.status).not.toBe(0);
    expect(`${bad.stdout}${bad.stderr}`).toMatch(/Verification failure/);
  });

  it('names a row altered directly in the database file, and a deleted row', () => {
    const file = path.join(node, 'data', 'hedgerow.db');
    // An attacker with access to the file: the triggers refuse, so they are dropped first.
    const db = new BetterSqlite3(file);
    expect(() => db.prepare("UPDATE audit_log SET detail = '{\"i\":40}' WHERE seq = 4").run()).toThrow(/append-only/);
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    db.prepare("UPDATE audit_log SET detail = '{\"i\":40}' WHERE seq = 4").run();
    db.close();
    const altered = cli(['audit', 'verify']);
    expect(altered.status).toBe(1);
    expect(altered.stdout).toMatch(/chain: BROKEN at seq 4: hash-mismatch/);
    expect(altered.stdout).toMatch(/FIRST BROKEN: seq 4: hash-mismatch/);
    const json = JSON.parse(cli(['audit', 'verify', '--json']).stdout);
    expect(json.firstBroken).toMatchObject({ seq: 4, kind: 'hash-mismatch' });

    const db2 = new BetterSqlite3(file);
    db2.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    db2.close();
    const gap = cli(['audit', 'verify']);
    expect(gap.status).toBe(1);
    expect(gap.stdout).toMatch(/FIRST BROKEN: seq 2: seq-gap: gap in seq: seq 2 is missing/);
    expect(gap.stdout).toMatch(/also: seq 4: hash-mismatch/);
  });
});

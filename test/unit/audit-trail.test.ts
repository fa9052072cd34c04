import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { Store } from '../../src/store/store';
import { AuditTrail } from '../../src/audit/audit-trail';
import { canonicalJson } from '../../src/audit/canonical-json';
import { GENESIS_HASH, entryHash, entryHashOfCanonicalDetail } from '../../src/audit/chain';
import { verifyBundle } from '../../src/audit/verify';
import { HEAD_JWS_TYPE, signHeadJws, signingKeyOf, verificationMethodId, type HeadSigningKey } from '../../src/audit/head-signature';
import type { AuditBundle } from '../../src/audit/bundle';
import { makeLeaf, makeRootCa, rsaKeyPair, type TestCa, type TestLeaf } from './pki-fixtures';
import { issueCertificate } from '../../src/pki';

const PID = 'did:web:connector.example.com';

describe('canonical JSON (RFC 8785)', () => {
  it('sorts members by UTF-16 code units and serialises numbers as ECMAScript does', () => {
    expect(canonicalJson({ b: 1, a: [true, null, '€'], c: 1.0, '\u20ac': 1, '\r': 2, '1': 3 })).toBe('{"\\r":2,"1":3,"a":[true,null,"€"],"b":1,"c":1,"€":1}');
    // RFC 8785 appendix B samples.
    expect(canonicalJson([333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001])).toBe('[333333333.3333333,1e+30,4.5,0.002,1e-27]');
    expect(() => canonicalJson(undefined)).toThrow(/no JSON representation/);
    expect(() => canonicalJson(Number.NaN)).toThrow();
  });
});

describe('entry hash', () => {
  it('is the same whether computed from the entry or from the stored JCS text of its detail', () => {
    const odd = ['', 'plain', 'quote " backslash \\ slash /', 'tab\t nl\n cr\r \u0001 \u007f', 'ü € 𝄞 \ud800 lone', 'did:web:coop.example%3A8443'];
    const details = [{}, { b: 1, a: [1.5, -0, 1e21, 1e-7, null, true], é: { z: 'x', A: 'y' } }, [odd], 'text', 42, null];
    let prev = GENESIS_HASH;
    let seq = 1;
    for (const actor of odd.slice(1))
      for (const detail of details)
        for (const processId of [null, actor]) {
          const e = { seq: seq++ * 997, at: new Date(seq * 1e9).toISOString(), processId, actor, event: `negotiation.${actor}`, detail: detail as never };
          const h = entryHash(prev, e);
          expect(entryHashOfCanonicalDetail(prev, e, canonicalJson(detail))).toBe(h);
          prev = h;
        }
  });
});

describe('audit trail', () => {
  let dir: string;
  let store: Store;
  let trail: AuditTrail;
  let ca: TestCa;
  let leaf: TestLeaf;
  let key: HeadSigningKey;

  beforeAll(() => {
    ca = makeRootCa();
    leaf = makeLeaf(ca);
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-audit-'));
    store = Store.open(dir);
    key = { participantId: PID, privateKey: leaf.privateKey, chain: [leaf.certificate, ca.certificate], kid: `${PID}#key-1` };
    trail = new AuditTrail({ store, self: () => PID, signingKey: () => key, anchors: () => [ca.certificate] });
  });

  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const fill = (n: number, processId = 'urn:uuid:p1') => {
    for (let i = 0; i < n; i++) trail.append({ processId, actor: 'did:web:peer.example', event: 'negotiation.received', detail: { message: 'ContractRequestMessage', i } });
  };

  /** An attacker with access to the file: drops the triggers, changes what it likes. */
  const tamper = (sql: string, ...args: unknown[]) => {
    const file = Store.databaseFile(dir);
    const raw = new BetterSqlite3(file);
    raw.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    raw.prepare(sql).run(...args);
    raw.close();
  };

  it('chains entries: seq + 1, prev_hash = previous hash, hash = SHA-256(prev_hash + JCS(entry)), genesis 64 zeros', () => {
    const a = trail.append({ processId: 'urn:uuid:n1', actor: 'did:web:peer.example', event: 'negotiation.received', detail: { from: null, to: 'REQUESTED' } });
    const b = trail.append({ actor: 'operator', event: 'consent.changed', detail: { status: 'granted' } });
    expect(a).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, processId: 'urn:uuid:n1' });
    expect(b).toMatchObject({ seq: 2, prevHash: a.hash, processId: null });
    const expected = crypto
      .createHash('sha256')
      .update(GENESIS_HASH + JSON.stringify({ actor: a.actor, at: a.at, detail: { from: null, to: 'REQUESTED' }, event: a.event, processId: a.processId, seq: 1 }))
      .digest('hex');
    expect(a.hash).toBe(expected);
    expect(entryHash(a.hash, b)).toBe(b.hash);
    const row = store.audit.get(1)!;
    expect(row.detail).toBe('{"from":null,"to":"REQUESTED"}'); // stored canonical
    expect(trail.head()).toEqual({ seq: 2, hash: b.hash });
  });

  it('never stores secrets: keys like token/authorization/privateKey and values that look like tokens or keys are redacted', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJkaWQ6d2ViOngifQ.c2lnbmF0dXJlc2lnbmF0dXJl';
    const e = trail.append({
      actor: 'system',
      event: 'data.access',
      detail: { token: 'abc', authorization: 'Bearer xyz', nested: { privateKey: '-----BEGIN PRIVATE KEY-----', list: [jwt, 'fine'] }, note: `Bearer ${jwt}`, at: new Date(0), n: Number.NaN, err: new Error('boom') },
    });
    expect(e.detail).toEqual({
      token: '[redacted]',
      authorization: '[redacted]',
      nested: { privateKey: '[redacted]', list: ['[redacted]', 'fine'] },
      note: '[redacted]',
      at: '1970-01-01T00:00:00.000Z',
      n: null,
      err: { name: 'Error', message: 'boom' },
    });
    expect(store.audit.get(1)!.detail).not.toContain('xyz');
  });

  it('joins the caller transaction: a rolled-back state change leaves no audit entry', () => {
    fill(1);
    expect(() =>
      store.transaction(() => {
        trail.append({ actor: 'system', event: 'negotiation.transition', detail: {} });
        throw new Error('the state change failed');
      }),
    ).toThrow('the state change failed');
    expect(store.audit.count()).toBe(1);
    fill(1);
    expect(store.audit.last()!.seq).toBe(2);
  });

  it('refuses unknown event names', () => {
    expect(() => trail.append({ actor: 'system', event: 'made.up' as never })).toThrow(/unknown audit event/);
  });

  it('triggers refuse UPDATE and DELETE through SQL', () => {
    fill(2);
    expect(() => store.db.prepare("UPDATE audit_log SET detail = '{}' WHERE seq = 1").run()).toThrow(/append-only/);
    expect(() => store.db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(/append-only/);
    expect(() => store.db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(store.audit.count()).toBe(2);
  });

  it('verifies an intact trail with signed heads checked against the trust anchor', async () => {
    fill(5);
    const head = await trail.signHead();
    fill(2);
    const report = await trail.verify();
    expect(report).toMatchObject({ ok: true, entries: 7, firstSeq: 1, lastSeq: 7, signedHeads: { checked: 1, valid: 1, lastSignedSeq: 5 }, unsignedEntries: 2, anchored: true, firstBroken: null });
    expect(report.signer).toMatchObject({ participantId: PID });
    expect(report.warnings.join()).toMatch(/2 entries after the last signed head/);

    // The JWS: compact, ES256, kid and x5c, payload {seq, hash, at, participantId} in JCS form.
    const header = decodeProtectedHeader(head.jws);
    expect(header).toMatchObject({ alg: 'ES256', typ: HEAD_JWS_TYPE, kid: `${PID}#key-1` });
    expect(header.x5c).toEqual([leaf.certificate.raw.toString('base64'), ca.certificate.raw.toString('base64')]);
    const { payload } = await compactVerify(head.jws, leaf.certificate.publicKey);
    const text = new TextDecoder().decode(payload);
    expect(JSON.parse(text)).toEqual({ seq: 5, hash: store.audit.get(5)!.hash, at: head.signedAt, participantId: PID });
    expect(text).toBe(canonicalJson(JSON.parse(text)));
  });

  it('trusts heads of its own pinned certificate without its CA, and nothing else', async () => {
    fill(2);
    await trail.signHead();
    const pinnedOnly = new AuditTrail({ store, self: () => PID, anchors: () => [], pinned: () => [leaf.certificate] });
    const report = await pinnedOnly.verify();
    expect(report).toMatchObject({ ok: true, anchored: true, signer: { anchor: 'the connector certificate (pinned)' } });
    const other = makeLeaf(ca);
    const wrongPin = new AuditTrail({ store, self: () => PID, anchors: () => [], pinned: () => [other.certificate] });
    expect((await wrongPin.verify()).firstBroken).toMatchObject({ seq: 2, kind: 'head-untrusted' });
  });

  it('signs periodically only when the head moved: an idle trail writes nothing', async () => {
    expect(await trail.signHeadIfChanged()).toBeNull(); // empty log
    fill(3);
    const first = await trail.signHeadIfChanged();
    expect(first?.seq).toBe(3);
    const changes = () => (store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    const before = changes();
    expect(await trail.signHeadIfChanged()).toBeNull();
    expect(await trail.signHeadIfChanged()).toBeNull();
    expect(changes()).toBe(before);
    expect(store.audit.heads()).toHaveLength(1);
    fill(1);
    expect((await trail.signHeadIfChanged())?.seq).toBe(4);
    expect(await trail.signHead(4)).toEqual(store.audit.headAt(4)); // an existing signature is reused
    expect(store.audit.heads()).toHaveLength(2);
  });

  it('a row altered directly in the database file is named by seq (hash mismatch)', async () => {
    fill(6);
    await trail.signHead();
    tamper(`UPDATE audit_log SET detail = '{"i":99,"message":"ContractRequestMessage"}' WHERE seq = 4`);
    const report = await trail.verify();
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toMatchObject({ seq: 4, kind: 'hash-mismatch' });
    expect(report.problems).toHaveLength(1); // the rest of the chain still links
  });

  it('a deleted row is a gap, named by the missing seq', async () => {
    fill(6);
    tamper('DELETE FROM audit_log WHERE seq = 3');
    const report = await trail.verify();
    expect(report.firstBroken).toMatchObject({ seq: 3, kind: 'seq-gap' });
    expect(report.firstBroken!.message).toMatch(/seq 3 is missing/);
  });

  it('a rewritten chain (hashes recomputed without the key) contradicts the signed head', async () => {
    fill(5);
    await trail.signHead();
    // Rewrite seq 2 and recompute every later hash: the chain is consistent again, the signature is not.
    const rows = store.audit.between(1, 5);
    let prev = rows[0]!.hash;
    const raw = new BetterSqlite3(Store.databaseFile(dir));
    raw.exec('DROP TRIGGER audit_log_no_update;');
    for (const r of rows.slice(1)) {
      const detail = r.seq === 2 ? { i: 42 } : JSON.parse(r.detail);
      const hash = entryHash(prev, { ...r, detail });
      raw.prepare('UPDATE audit_log SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(canonicalJson(detail), prev, hash, r.seq);
      prev = hash;
    }
    raw.close();
    const report = await trail.verify();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toEqual(['head-mismatch']);
    expect(report.firstBroken).toMatchObject({ seq: 5, kind: 'head-mismatch' });
  });

  it('removed tail entries are caught by a head signed over them (truncation)', async () => {
    fill(5);
    await trail.signHead();
    tamper('DELETE FROM audit_log WHERE seq >= 4');
    const report = await trail.verify();
    expect(report.firstBroken).toMatchObject({ seq: 5, kind: 'truncated' });
  });

  it('a forged or foreign head signature is reported', async () => {
    fill(2);
    const head = await trail.signHead();
    const [h, p, s] = head.jws.split('.');
    const forged = `${h}.${p}.${s!.slice(0, -4)}AAAA`;
    tamper('UPDATE audit_heads SET jws = ? WHERE seq = 2', forged);
    expect((await trail.verify()).firstBroken).toMatchObject({ seq: 2, kind: 'head-signature-invalid' });
    // A head signed by another CA's certificate is not trusted.
    const other = makeRootCa('ec', 'Other CA');
    const stranger = makeLeaf(other);
    const strangerTrail = new AuditTrail({ store, signingKey: () => ({ participantId: PID, privateKey: stranger.privateKey, chain: [stranger.certificate, other.certificate] }) });
    fill(1);
    await strangerTrail.signHead();
    const report = await trail.verify();
    expect(report.problems.map((p) => `${p.seq}:${p.kind}`)).toEqual(['2:head-signature-invalid', '3:head-untrusted']);
  });

  it('does not trust a head signed with a CA key, even one naming the participant', async () => {
    fill(1);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const subCa = issueCertificate({ subject: { commonName: 'Sub CA' }, subjectPublicKey: publicKey, issuer: ca, profile: 'ca', participantId: PID, validityDays: 1 });
    const byCa = new AuditTrail({ store, signingKey: () => ({ participantId: PID, privateKey, chain: [subCa, ca.certificate] }) });
    await byCa.signHead();
    const report = await trail.verify();
    expect(report.firstBroken).toMatchObject({ seq: 1, kind: 'head-untrusted' });
    expect(report.firstBroken!.message).toMatch(/LEAF_IS_CA/);
  });

  it('exports a bundle that verifies offline, and detects a tampered bundle', async () => {
    fill(3, 'urn:uuid:a');
    fill(2, 'urn:uuid:b');
    fill(2, 'urn:uuid:a');
    await trail.signHead(2); // a checkpoint inside the range
    const bundle = JSON.parse(JSON.stringify(await trail.exportBundle({ processId: 'urn:uuid:a' }))) as AuditBundle;
    expect(bundle.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(bundle.selection).toMatchObject({ processId: 'urn:uuid:a', matched: 5, seqs: [1, 2, 3, 6, 7] });
    expect(bundle.head.seq).toBe(7);
    expect(bundle.checkpoints.map((c) => c.seq)).toEqual([2]);
    expect(bundle.certificateChain).toContain('BEGIN CERTIFICATE');

    const ok = await verifyBundle(bundle, { anchors: [ca.certificate] });
    expect(ok).toMatchObject({ ok: true, entries: 7, anchored: true, signedHeads: { checked: 2, valid: 2 }, participantId: PID });
    const unanchored = await verifyBundle(bundle, { anchors: null });
    expect(unanchored.ok).toBe(true);
    expect(unanchored.anchored).toBeNull();
    expect(unanchored.warnings.join()).toMatch(/no trust anchor given.*SHA-256/);

    const altered = structuredClone(bundle);
    (altered.entries[4]!.detail as Record<string, unknown>).i = 7;
    expect((await verifyBundle(altered, { anchors: [ca.certificate] })).firstBroken).toMatchObject({ seq: 5, kind: 'hash-mismatch' });
    const gap = structuredClone(bundle);
    gap.entries.splice(2, 1);
    expect((await verifyBundle(gap, { anchors: [ca.certificate] })).firstBroken).toMatchObject({ seq: 3, kind: 'seq-gap' });
    const cut = structuredClone(bundle);
    cut.entries.pop();
    expect((await verifyBundle(cut, { anchors: [ca.certificate] })).problems.map((p) => p.kind)).toContain('head-mismatch');
    const foreign = await verifyBundle(bundle, { anchors: [makeRootCa('ec', 'Other CA').certificate] });
    expect(foreign.firstBroken).toMatchObject({ kind: 'head-untrusted' });
    expect((await verifyBundle({ format: 'nope' }, { anchors: null })).firstBroken).toMatchObject({ kind: 'bundle-invalid' });
  });

  it('hashes the detail a bundle shows: a rewritten detail with the original text beside it, or any extra member, fails', async () => {
    fill(3);
    const bundle = JSON.parse(JSON.stringify(await trail.exportBundle({}))) as AuditBundle;
    const forged = structuredClone(bundle);
    const e = forged.entries[1] as AuditBundle['entries'][number] & { detailText?: string };
    e.detailText = canonicalJson(e.detail);
    e.detail = { message: 'ContractAgreementMessage', i: 1 };
    const report = await verifyBundle(forged, { anchors: [ca.certificate] });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => `${p.seq}:${p.kind}`)).toEqual(['2:hash-mismatch', '2:malformed']);
    expect(report.problems[1]!.message).toMatch(/"detailText"/);
    // The original text alone beside the genuine detail is refused as well.
    const extra = structuredClone(bundle);
    (extra.entries[0] as unknown as Record<string, unknown>).detailText = canonicalJson(extra.entries[0]!.detail);
    expect((await verifyBundle(extra, { anchors: [ca.certificate] })).firstBroken).toMatchObject({ seq: 1, kind: 'malformed' });
    expect((await verifyBundle(bundle, { anchors: [ca.certificate] })).problems).toEqual([]);
  });

  it('refuses a head dated later than now, or before the entry it covers (the chain is validated at that date)', async () => {
    fill(2);
    const bundle = JSON.parse(JSON.stringify(await trail.exportBundle({}))) as AuditBundle;
    const resigned = async (at: string) => {
      const jws = await signHeadJws(key, { seq: bundle.head.seq, hash: bundle.head.hash, at, participantId: PID });
      return verifyBundle({ ...bundle, head: { ...bundle.head, signedAt: at, jws } }, { anchors: [ca.certificate] });
    };
    const future = await resigned(new Date(Date.now() + 3_600_000).toISOString());
    expect(future.ok).toBe(false);
    expect(future.firstBroken).toMatchObject({ seq: 2, kind: 'head-signature-invalid' });
    expect(future.firstBroken!.message).toMatch(/later than now/);
    expect((await resigned(new Date(Date.now() + 20_000).toISOString())).ok).toBe(true); // within the clock tolerance

    // An entry dated 10 minutes ahead, a head signed now over it: in the database and in a bundle.
    const ahead = new AuditTrail({ store, now: () => new Date(Date.now() + 600_000) });
    ahead.append({ actor: 'system', event: 'data.access', detail: {} });
    await trail.signHead();
    const db = await trail.verify();
    expect(db.ok).toBe(false);
    expect(db.firstBroken).toMatchObject({ seq: 3, kind: 'head-mismatch' });
    expect(db.firstBroken!.message).toMatch(/before that entry/);
    const early = await verifyBundle(JSON.parse(JSON.stringify(await trail.exportBundle({}))), { anchors: [ca.certificate] });
    expect(early.firstBroken).toMatchObject({ seq: 3, kind: 'head-mismatch' });
  });

  it('time filters select entries by their instant', async () => {
    let t = Date.parse('2026-03-01T00:00:00Z');
    const clocked = new AuditTrail({ store, now: () => new Date((t += 3_600_000)) });
    for (let i = 0; i < 5; i++) clocked.append({ actor: 'system', event: 'data.access', detail: { i } });
    // Exported (and signed) now, by the connector's own clock: the certificate is valid now, not on 2026-03-01.
    const bundle = await trail.exportBundle({ from: '2026-03-01T02:00:00.000Z', to: '2026-03-01T04:00:00.000Z' });
    expect(bundle.entries.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(bundle.entries[0]!.prevHash).toBe(store.audit.get(1)!.hash);
    expect((await verifyBundle(JSON.parse(JSON.stringify(bundle)), { anchors: [ca.certificate] })).problems).toEqual([]);
    await expect(trail.exportBundle({ processId: 'nothing' })).rejects.toThrow(/no audit entries match/);
  });

  it('signs with PS256 for RSA keys and uses the DID verification method id as kid', async () => {
    const { privateKey, publicKey } = rsaKeyPair();
    const rsaLeaf = issueCertificate({ subject: { commonName: 'rsa.example.com' }, subjectPublicKey: publicKey, issuer: ca, profile: 'connector', validityDays: 30, participantId: PID, hostnames: ['rsa.example.com'] });
    const identity = { participantId: PID, did: PID, privateKey, publicKey, chain: [rsaLeaf, ca.certificate] };
    const rsaTrail = new AuditTrail({ store, signingKey: () => signingKeyOf(identity), anchors: () => [ca.certificate] });
    fill(1);
    const head = await rsaTrail.signHead();
    const header = decodeProtectedHeader(head.jws);
    expect(header.alg).toBe('PS256');
    expect(header.kid).toBe(await verificationMethodId(PID, publicKey));
    expect(header.kid).toMatch(/^did:web:connector\.example\.com#[A-Za-z0-9_-]{43}$/);
    expect((await rsaTrail.verify({ participantId: PID })).ok).toBe(true);
  });

  it('records process events: received (actor = peer), transitions (actor = us), decisions; notes are not audited', () => {
    trail.recordProcessEvent({ area: 'contract negotiation', processId: 'n1', kind: 'received', messageType: 'ContractRequestMessage', from: null, to: 'REQUESTED', detail: { offer: 'o1' }, peer: 'did:web:peer.example' });
    trail.recordProcessEvent({ area: 'contract negotiation', processId: 'n1', kind: 'decision', messageType: null, from: 'REQUESTED', to: null, detail: { scope: 'negotiation', allowed: true, reason: 'ok', trace: [] } });
    trail.recordProcessEvent({ area: 'transfer process', processId: 't1', kind: 'transition', messageType: 'TransferStartMessage', from: 'REQUESTED', to: 'STARTED' });
    trail.recordProcessEvent({ area: 'transfer process', processId: 't1', kind: 'note', messageType: null, from: null, to: null, detail: { push: 'started' } });
    const rows = store.audit.between(1, 10);
    expect(rows.map((r) => [r.event, r.actor])).toEqual([
      ['negotiation.received', 'did:web:peer.example'],
      ['policy.decision', PID],
      ['transfer.transition', PID],
    ]);
    expect(JSON.parse(rows[0]!.detail)).toEqual({ message: 'ContractRequestMessage', to: 'REQUESTED', detail: { offer: 'o1' } });
    expect(JSON.parse(rows[1]!.detail)).toEqual({ process: 'negotiation', state: 'REQUESTED', scope: 'negotiation', allowed: true, reason: 'ok', trace: [] });
  });

  it('bounds the cost of unauthenticated floods: at most 10 auth failures a second, the rest counted', () => {
    let now = Date.parse('2026-03-01T00:00:00Z');
    const limited = new AuditTrail({ store, now: () => new Date(now) });
    for (let i = 0; i < 25; i++) limited.authFailure({ area: 'negotiation', reason: 'TOKEN_MISSING', path: '/x', remote: '192.0.2.1' });
    expect(store.audit.count()).toBe(10);
    now += 1000;
    limited.authFailure({ area: 'catalog', reason: 'TOKEN_EXPIRED' });
    expect(JSON.parse(store.audit.get(11)!.detail)).toMatchObject({ reason: 'TOKEN_EXPIRED', suppressedBefore: 15 });
    for (let i = 0; i < 12; i++) limited.authFailure({ area: 'catalog', reason: 'TOKEN_EXPIRED' });
    limited.flushAuthFailures();
    expect(JSON.parse(store.audit.get(store.audit.last()!.seq)!.detail)).toMatchObject({ area: 'summary', suppressed: 3 });
  });
});

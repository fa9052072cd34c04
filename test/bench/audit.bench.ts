/**
 * The audit trail: appends per second with the hash chain (each in its own transaction, which costs one fsync with
 * synchronous=FULL, and 100 per transaction, as when several entries join one state change), the hash alone, head
 * signing, and verification speed of the database and of an exported bundle (entries per second).
 */
import { tempDir } from '../helpers/cli';
import { Store } from '../../src/store/store';
import { AuditTrail } from '../../src/audit/audit-trail';
import { entryHash, GENESIS_HASH } from '../../src/audit/chain';
import { verifyBundle, verifyDatabase } from '../../src/audit/verify';
import { createCertificateAuthority, generateKeyPair, issueCertificate } from '../../src/pki';

/** A typical entry: a policy decision with a three-step trace (about 600 bytes of canonical JSON). */
const DETAIL = {
  process: 'transfer',
  scope: 'transfer',
  allowed: true,
  reason: 'allowed by permission[0]',
  trace: [
    { rule: 'permission[0]', constraint: 'permission[0].constraint[0]', leftOperand: 'spatial', operator: 'isA', expected: 'EU', actual: 'FR', outcome: 'satisfied', detail: 'FR is in EU' },
    { rule: 'permission[0]', constraint: 'permission[0].constraint[1]', leftOperand: 'purpose', operator: 'eq', expected: 'agronomic-advice', actual: 'agronomic-advice', outcome: 'satisfied', detail: 'purpose matches' },
    { rule: 'permission[0]', constraint: 'permission[0].constraint[2]', leftOperand: 'elapsedTime', operator: 'lteq', expected: 'P12M', actual: 'P3M', outcome: 'satisfied', detail: 'within 12 months' },
  ],
};

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

export async function run(durationMs = 1500): Promise<Record<string, number>> {
  const tmp = tempDir('hedgerow-bench-audit-');
  const store = Store.open(tmp.dir);
  try {
    const ca = createCertificateAuthority({ subject: { commonName: 'Bench CA' }, keyType: 'ec', validityDays: 30 });
    const { privateKey, publicKey } = generateKeyPair('ec');
    const leaf = issueCertificate({ subject: { commonName: 'bench.example' }, subjectPublicKey: publicKey, issuer: ca, profile: 'connector', validityDays: 30, participantId: 'did:web:bench.example', hostnames: ['bench.example'] });
    const trail = new AuditTrail({ store, self: () => 'did:web:bench.example', signingKey: () => ({ participantId: 'did:web:bench.example', privateKey, chain: [leaf, ca.certificate] }) });
    const entry = (i: number) => ({ processId: `urn:uuid:transfer-${i % 50}`, actor: 'did:web:agro.example', event: 'policy.decision' as const, detail: { ...DETAIL, i } });

    // Hash alone (JCS + SHA-256), no database.
    let n = 0;
    let prev = GENESIS_HASH;
    let t0 = performance.now();
    while (performance.now() - t0 < durationMs / 3) {
      for (let k = 0; k < 100; k++, n++) prev = entryHash(prev, { seq: n + 1, at: new Date().toISOString(), processId: 'p', actor: 'a', event: 'policy.decision', detail: { ...DETAIL, i: n } });
    }
    const hashesPerSecond = rate(n, performance.now() - t0);

    // One entry per transaction (each commit is fsynced).
    n = 0;
    t0 = performance.now();
    while (performance.now() - t0 < durationMs) store.transaction(() => trail.append(entry(n++)));
    const appendsPerSecondTx1 = rate(n, performance.now() - t0);

    // 100 entries per transaction.
    let m = 0;
    t0 = performance.now();
    while (performance.now() - t0 < durationMs) {
      store.transaction(() => {
        for (let k = 0; k < 100; k++) trail.append(entry(m++));
      });
    }
    const appendsPerSecondTx100 = rate(m, performance.now() - t0);

    // Fill up to 50,000 entries for verification.
    while (store.audit.count() < 50_000) store.transaction(() => {
      for (let k = 0; k < 1000; k++) trail.append(entry(k));
    });
    t0 = performance.now();
    const head = await trail.signHead();
    const signHeadMs = performance.now() - t0;

    t0 = performance.now();
    const report = await verifyDatabase(store.audit, { anchors: [ca.certificate] });
    const verifyMs = performance.now() - t0;
    if (!report.ok) throw new Error(`verification failed: ${report.firstBroken?.message}`);

    const bundle = JSON.parse(JSON.stringify(await trail.exportBundle({})));
    t0 = performance.now();
    const bundleReport = await verifyBundle(bundle, { anchors: [ca.certificate] });
    const bundleMs = performance.now() - t0;
    if (!bundleReport.ok || head.seq !== report.lastSeq) throw new Error('bundle verification failed');

    return {
      hashesPerSecond,
      appendsPerSecondTx1,
      appendsPerSecondTx100,
      signHeadMs: Math.round(signHeadMs * 10) / 10,
      verifiedEntries: report.entries,
      verifyDatabaseEntriesPerSecond: rate(report.entries, verifyMs),
      verifyBundleEntriesPerSecond: rate(bundleReport.entries, bundleMs),
    };
  } finally {
    store.close();
    tmp.cleanup();
  }
}

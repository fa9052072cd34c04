/**
 * Verification of the audit trail, in the database or in an exported bundle: recompute the hash chain, check every
 * signed head (signature, certificate chain to a trust anchor at signing time, participant) and that it covers the
 * entry it names. The report names the first broken entry.
 */
import type { X509Certificate } from 'node:crypto';
import type { AuditRepository, SignedHeadRow } from '../store/repositories/audit';
import { readCertificatesPem } from '../pki';
import { ChainChecker, GENESIS_HASH, MAX_PROBLEMS, type AuditProblem, type CheckableEntry } from './chain';
import { HEAD_CLOCK_TOLERANCE_MS, verifyHeadJws, type HeadSigner } from './head-signature';
import { BUNDLE_FORMAT, type AuditBundle, type BundleHead } from './bundle';

export interface AuditReport {
  ok: boolean;
  source: 'database' | 'bundle';
  participantId: string | null;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** Hash of the last entry. */
  headHash: string | null;
  signedHeads: { checked: number; valid: number; lastSignedSeq: number | null };
  /** Entries after the last valid signed head. */
  unsignedEntries: number;
  /** The signer of the last valid head. */
  signer: HeadSigner | null;
  /** Null when the chain was not checked against trust anchors (none given). */
  anchored: boolean | null;
  firstBroken: AuditProblem | null;
  problems: AuditProblem[];
  warnings: string[];
}

interface HeadOutcome {
  valid: boolean;
  seq: number;
  signer?: HeadSigner;
  anchored: boolean | null;
}

/** Check one signed head and compare it with the chain (via `stored`). Pushes problems. */
async function checkHead(
  head: BundleHead | SignedHeadRow,
  ctx: { anchors: X509Certificate[] | null; pinned?: X509Certificate[]; participantId: string | null; stored: (seq: number) => { hash: string; at: string } | undefined; lastSeq: number | null; problems: AuditProblem[] },
): Promise<HeadOutcome> {
  const push = (p: AuditProblem) => ctx.problems.push(p);
  const v = await verifyHeadJws(head.jws, { anchors: ctx.anchors, ...(ctx.pinned ? { pinned: ctx.pinned } : {}) });
  const out: HeadOutcome = { valid: false, seq: head.seq, anchored: v.trusted, ...(v.signer ? { signer: v.signer } : {}) };
  if (!v.valid || !v.payload) {
    push({ seq: head.seq, kind: 'head-signature-invalid', message: `signed head at seq ${head.seq}: ${v.problem ?? 'invalid'}` });
    return out;
  }
  const p = v.payload;
  if (p.seq !== head.seq || p.hash !== head.hash) {
    push({ seq: head.seq, kind: 'head-mismatch', message: `signed head at seq ${head.seq}: the stored seq/hash differ from the signed payload (seq ${p.seq}, hash ${p.hash.slice(0, 16)}…)` });
    return out;
  }
  if (v.trusted === false) {
    push({ seq: head.seq, kind: 'head-untrusted', message: `signed head at seq ${head.seq}: ${v.problem}` });
    return out;
  }
  if (ctx.participantId && p.participantId !== ctx.participantId) {
    push({ seq: head.seq, kind: 'head-untrusted', message: `signed head at seq ${head.seq} was signed by ${p.participantId}, not by ${ctx.participantId}` });
    return out;
  }
  const stored = ctx.stored(p.seq);
  if (stored === undefined) {
    if (ctx.lastSeq === null || p.seq > ctx.lastSeq) {
      push({ seq: p.seq, kind: 'truncated', message: `a head signed at ${p.at} covers seq ${p.seq}, but the log ends at ${ctx.lastSeq === null ? 'nothing (empty)' : `seq ${ctx.lastSeq}`}: entries were removed` });
    } else {
      push({ seq: p.seq, kind: 'head-mismatch', message: `a head signed at ${p.at} covers seq ${p.seq}, which is missing from the log` });
    }
    return out;
  }
  if (stored.hash !== p.hash) {
    push({ seq: p.seq, kind: 'head-mismatch', message: `the head signed at ${p.at} gives seq ${p.seq} the hash ${p.hash.slice(0, 16)}…, the log has ${stored.hash.slice(0, 16)}…: entries up to seq ${p.seq} were rewritten` });
    return out;
  }
  // The chain was validated at the signer's `at`: it cannot predate the entry it signs (e.g. to fall back into the
  // validity of an expired certificate). The tolerance spares a genuine head signed right after a clock step back.
  if (!(Date.parse(p.at) >= Date.parse(stored.at) - HEAD_CLOCK_TOLERANCE_MS)) {
    push({ seq: p.seq, kind: 'head-mismatch', message: `the head over seq ${p.seq} is dated ${p.at}, before that entry (${String(stored.at)}): a head cannot be signed before what it covers` });
    return out;
  }
  out.valid = true;
  return out;
}

function finish(
  source: AuditReport['source'],
  checker: ChainChecker,
  heads: HeadOutcome[],
  problems: AuditProblem[],
  warnings: string[],
  participantId: string | null,
  anchors: X509Certificate[] | null,
): AuditReport {
  const all = [...checker.problems, ...problems]
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.seq ?? -1) - (b.p.seq ?? -1) || a.i - b.i)
    .map(({ p }) => p)
    .slice(0, MAX_PROBLEMS);
  const valid = heads.filter((h) => h.valid);
  const lastValid = valid.reduce<HeadOutcome | undefined>((a, h) => (!a || h.seq > a.seq ? h : a), undefined);
  const lastSignedSeq = lastValid?.seq ?? null;
  const unsignedEntries = checker.lastSeq === null ? 0 : checker.lastSeq - (lastSignedSeq ?? (checker.firstSeq ?? 1) - 1);
  if (heads.length === 0 && checker.count > 0) warnings.push('no signed head: the chain is consistent, but nothing binds it to the connector key yet');
  else if (unsignedEntries > 0 && source === 'database') warnings.push(`${unsignedEntries} entries after the last signed head (seq ${lastSignedSeq ?? 0}) are not signed yet`);
  const anchored = heads.length === 0 ? null : anchors && anchors.length ? valid.length > 0 && valid.every((h) => h.anchored === true) : null;
  if (heads.length && anchored === null) {
    const s = lastValid?.signer ?? heads[0]?.signer;
    warnings.push(
      `no trust anchor given: the signatures were checked with the certificate in x5c only${s ? ` (${s.subject}, SHA-256 ${s.fingerprint})` : ''}; compare its fingerprint out of band or pass --trust-anchors DIR / --anchor FILE`,
    );
  }
  return {
    ok: all.length === 0,
    source,
    participantId,
    entries: checker.count,
    firstSeq: checker.firstSeq,
    lastSeq: checker.lastSeq,
    headHash: checker.lastSeq === null ? null : checker.lastHash,
    signedHeads: { checked: heads.length, valid: valid.length, lastSignedSeq },
    unsignedEntries,
    signer: lastValid?.signer ?? null,
    anchored,
    firstBroken: all[0] ?? null,
    problems: all,
    warnings,
  };
}

/** Verify the whole log of a database, read in pages (a running connector keeps serving between them). */
export async function verifyDatabase(
  repo: AuditRepository,
  opts: { anchors: X509Certificate[] | null; pinned?: X509Certificate[]; participantId?: string | null; pageSize?: number; yieldBetweenPages?: boolean },
): Promise<AuditReport> {
  const heads = repo.heads();
  const checker = new ChainChecker({ seq: 1, prevHash: GENESIS_HASH }, new Set(heads.map((h) => h.seq)));
  const pageSize = opts.pageSize ?? 5000;
  for (let after = 0; ; ) {
    const rows = repo.page(after, pageSize);
    for (const r of rows) checker.push({ seq: r.seq, at: r.at, processId: r.processId, actor: r.actor, event: r.event, detailText: r.detail, prevHash: r.prevHash, hash: r.hash });
    if (rows.length < pageSize) break;
    after = rows[rows.length - 1]!.seq;
    if (opts.yieldBetweenPages) await new Promise((r) => setImmediate(r));
  }
  const problems: AuditProblem[] = [];
  const ctx = { anchors: opts.anchors, ...(opts.pinned ? { pinned: opts.pinned } : {}), participantId: opts.participantId ?? null, stored: (s: number) => checker.stored(s), lastSeq: checker.lastSeq, problems };
  const outcomes: HeadOutcome[] = [];
  for (const h of heads) outcomes.push(await checkHead(h, ctx));
  const trustedBy = [...(opts.anchors ?? []), ...(opts.pinned ?? [])];
  return finish('database', checker, outcomes, problems, [], opts.participantId ?? null, trustedBy.length ? trustedBy : null);
}

/** The members of a bundle entry (AuditEntry). */
const ENTRY_MEMBERS = new Set(['seq', 'at', 'processId', 'actor', 'event', 'detail', 'prevHash', 'hash']);

/**
 * A bundle entry built member by member, so that the hash checked is the one of what the bundle shows: the checker
 * would hash a `detailText` instead of `detail`, and a reader sees `detail`. Other members are refused, not ignored.
 */
function bundleEntry(e: Record<string, unknown>, problems: AuditProblem[]): CheckableEntry {
  const unknown = Object.keys(e).filter((k) => !ENTRY_MEMBERS.has(k));
  if (unknown.length) {
    const seq = Number.isSafeInteger(e.seq) ? (e.seq as number) : null;
    problems.push({ seq, kind: 'malformed', message: `the entry${seq === null ? '' : ` at seq ${seq}`} has members a bundle entry does not have: ${unknown.map((k) => JSON.stringify(k)).join(', ')}` });
  }
  const { seq, at, processId, actor, event, detail, prevHash, hash } = e;
  return { seq, at, processId, actor, event, detail, prevHash, hash } as CheckableEntry;
}

function bundleProblem(message: string): AuditProblem {
  return { seq: null, kind: 'bundle-invalid', message };
}

/** Verify an exported bundle offline: no database, only the bundle and (optionally) trust anchors. */
export async function verifyBundle(input: unknown, opts: { anchors: X509Certificate[] | null }): Promise<AuditReport> {
  const b = input as Partial<AuditBundle> | null;
  const problems: AuditProblem[] = [];
  const empty = () => finish('bundle', new ChainChecker(null), [], problems, [], typeof b?.participantId === 'string' ? b.participantId : null, opts.anchors);
  if (!b || typeof b !== 'object') return (problems.push(bundleProblem('the bundle is not a JSON object')), empty());
  if (b.format !== BUNDLE_FORMAT) return (problems.push(bundleProblem(`unknown bundle format ${JSON.stringify(b.format)} (expected ${BUNDLE_FORMAT})`)), empty());
  if (!Array.isArray(b.entries) || b.entries.length === 0) return (problems.push(bundleProblem('the bundle has no entries')), empty());
  if (!b.head || typeof b.head !== 'object' || typeof b.head.jws !== 'string') return (problems.push(bundleProblem('the bundle has no signed head')), empty());
  const participantId = typeof b.participantId === 'string' ? b.participantId : null;
  const checkpoints = Array.isArray(b.checkpoints) ? b.checkpoints : [];
  const first = b.entries[0] as Partial<CheckableEntry>;
  if (typeof first !== 'object' || first === null || !Number.isSafeInteger(first.seq)) return (problems.push(bundleProblem('the first entry has no seq')), empty());
  const start = { seq: first.seq!, prevHash: first.seq === 1 ? GENESIS_HASH : String(first.prevHash) };
  const checker = new ChainChecker(start, new Set([b.head.seq, ...checkpoints.map((c) => c?.seq)].filter((s): s is number => typeof s === 'number')));
  for (const e of b.entries as unknown[]) {
    if (!e || typeof e !== 'object') {
      problems.push(bundleProblem('an entry is not an object'));
      continue;
    }
    checker.push(bundleEntry(e as Record<string, unknown>, problems));
  }
  // The chain in the bundle must be the one the head signs: its last entry.
  if (b.head.seq !== checker.lastSeq) {
    problems.push({ seq: typeof b.head.seq === 'number' ? b.head.seq : null, kind: 'head-mismatch', message: `the signed head covers seq ${String(b.head.seq)}, but the entries end at seq ${checker.lastSeq}` });
  }
  if (typeof b.certificateChain === 'string') {
    try {
      const pemChain = readCertificatesPem(b.certificateChain);
      const x5c = headerX5c(b.head.jws);
      if (x5c && (x5c.length !== pemChain.length || x5c.some((c, i) => c !== pemChain[i]!.raw.toString('base64')))) {
        problems.push(bundleProblem('certificateChain is not the chain in the signed head (x5c)'));
      }
    } catch (err) {
      problems.push(bundleProblem(`certificateChain cannot be read: ${(err as Error).message}`));
    }
  } else problems.push(bundleProblem('the bundle has no certificateChain'));
  const ctx = { anchors: opts.anchors, participantId, stored: (s: number) => checker.stored(s), lastSeq: checker.lastSeq, problems };
  const outcomes: HeadOutcome[] = [await checkHead(b.head, ctx)];
  for (const c of checkpoints) {
    if (c && typeof c === 'object' && typeof c.jws === 'string') outcomes.push(await checkHead(c, ctx));
    else problems.push(bundleProblem('a checkpoint is not a signed head'));
  }
  return finish('bundle', checker, outcomes, problems, [], participantId, opts.anchors);
}

function headerX5c(jws: string): string[] | null {
  try {
    const header = JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString('utf8')) as { x5c?: unknown };
    return Array.isArray(header.x5c) ? (header.x5c as string[]) : null;
  } catch {
    return null;
  }
}

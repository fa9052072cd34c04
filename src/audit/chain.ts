/**
 * The hash chain, independent of where the entries come from (the database, or a bundle on another machine):
 *
 *   hash(n) = lower-case hex SHA-256 over the UTF-8 bytes of  prevHash(n) || JCS({seq, at, processId, actor, event, detail})
 *   prevHash(1) = 64 zeros; prevHash(n) = hash(n - 1)
 *
 * `ChainChecker` takes the entries in seq order and names every break: a seq that is not the previous + 1 (gap), a
 * prevHash that is not the previous entry's hash, a hash that is not the recomputed one, a malformed entry.
 */
import { canonicalJson, sha256Hex } from './canonical-json';
import type { JsonValue } from './redact';

export const GENESIS_HASH = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;

/** The hashed content of an entry. */
export interface AuditEntryContent {
  seq: number;
  at: string;
  processId: string | null;
  actor: string;
  event: string;
  detail: JsonValue;
}

export interface AuditEntry extends AuditEntryContent {
  prevHash: string;
  hash: string;
}

export function entryHash(prevHash: string, e: AuditEntryContent): string {
  return sha256Hex(prevHash + canonicalJson({ seq: e.seq, at: e.at, processId: e.processId, actor: e.actor, event: e.event, detail: e.detail }));
}

/**
 * The same hash when the detail's JCS text is at hand (as stored): the envelope's members are written in JCS order
 * (actor, at, detail, event, processId, seq sort by UTF-16 code units), strings as JSON.stringify writes them, which is
 * what JCS prescribes. Saves parsing and re-canonicalising the detail; equal to `entryHash` (a unit test holds them
 * together), and any change to the stored text, even whitespace, changes the hash.
 */
export function entryHashOfCanonicalDetail(prevHash: string, e: Omit<AuditEntryContent, 'detail'>, detailJcs: string): string {
  const str = JSON.stringify;
  return sha256Hex(
    `${prevHash}{"actor":${str(e.actor)},"at":${str(e.at)},"detail":${detailJcs},"event":${str(e.event)},"processId":${e.processId === null ? 'null' : str(e.processId)},"seq":${canonicalJson(e.seq)}}`,
  );
}

export type AuditProblemKind =
  | 'seq-gap'
  | 'prev-hash-mismatch'
  | 'hash-mismatch'
  | 'malformed'
  | 'head-signature-invalid'
  | 'head-untrusted'
  | 'head-mismatch'
  | 'truncated'
  | 'bundle-invalid';

export interface AuditProblem {
  /** The entry (or signed head) concerned; null for the bundle as a whole. */
  seq: number | null;
  kind: AuditProblemKind;
  message: string;
}

export const MAX_PROBLEMS = 50;

/**
 * An entry as checked: with its detail parsed, or as the stored text (which must be JSON), never both. `detailText`
 * is for rows read from our own database; a bundle's entries are hashed over their `detail` (see verifyBundle).
 */
export type CheckableEntry = Omit<AuditEntry, 'detail'> & ({ detail: JsonValue; detailText?: never } | { detailText: string; detail?: never });

export class ChainChecker {
  readonly problems: AuditProblem[] = [];
  count = 0;
  firstSeq: number | null = null;
  lastSeq: number | null = null;
  /** Hash of the last entry as stored (what the next entry must chain to). */
  lastHash: string;
  private readonly kept = new Map<number, { hash: string; at: string }>();

  /**
   * @param start where the chain must start: seq 1 after the genesis hash for a whole log; a bundle starts at its
   *   first entry, whose prevHash it carries.
   * @param keepHashes seqs whose stored hash and time are remembered (to compare with signed heads).
   */
  constructor(
    private readonly start: { seq: number; prevHash: string } | null = { seq: 1, prevHash: GENESIS_HASH },
    private readonly keepHashes: ReadonlySet<number> = new Set(),
  ) {
    this.lastHash = start?.prevHash ?? GENESIS_HASH;
  }

  private problem(seq: number | null, kind: AuditProblemKind, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ seq, kind, message });
  }

  /** Hash and time of `seq` as stored, if it was asked for in `keepHashes` and seen. */
  stored(seq: number): { hash: string; at: string } | undefined {
    return this.kept.get(seq);
  }

  push(e: CheckableEntry): void {
    const first = this.lastSeq === null;
    const expected = first ? (this.start?.seq ?? e.seq) : this.lastSeq! + 1;
    let linked = true;
    if (!Number.isSafeInteger(e.seq)) {
      this.problem(null, 'malformed', `an entry has no valid seq (${String(e.seq)})`);
      return;
    }
    if (e.seq !== expected) {
      linked = false;
      if (e.seq > expected) {
        const missing = e.seq - expected === 1 ? `seq ${expected} is missing` : `seqs ${expected}..${e.seq - 1} are missing`;
        this.problem(expected, 'seq-gap', `gap in seq: ${missing} (deleted) before seq ${e.seq}`);
      } else {
        this.problem(e.seq, 'seq-gap', `seq ${e.seq} out of order or duplicated (expected ${expected})`);
      }
    }
    if (linked && (first ? !!this.start : true) && e.prevHash !== this.lastHash) {
      this.problem(e.seq, 'prev-hash-mismatch', first ? `prev_hash of seq ${e.seq} is not ${e.seq === 1 ? 'the genesis hash (64 zeros)' : 'the expected hash'}` : `prev_hash of seq ${e.seq} is not the hash of seq ${e.seq - 1} (seq ${e.seq - 1} or ${e.seq} was altered)`);
    }
    if (typeof e.prevHash !== 'string' || typeof e.hash !== 'string' || !HEX64.test(e.hash)) {
      this.problem(e.seq, 'malformed', `seq ${e.seq} has no valid hash or prev_hash`);
    } else {
      let computed: string | undefined;
      try {
        const content = { seq: e.seq, at: e.at, processId: e.processId ?? null, actor: e.actor, event: e.event };
        const text = e.detailText;
        const textual = text !== undefined && typeof content.at === 'string' && typeof content.actor === 'string' && typeof content.event === 'string';
        // Stored rows: hashed over the stored text as it is (it was written in JCS form).
        if (textual) computed = entryHashOfCanonicalDetail(e.prevHash, content, text);
        else computed = entryHash(e.prevHash, { ...content, detail: text !== undefined ? (JSON.parse(text) as JsonValue) : e.detail === undefined ? null : e.detail });
      } catch (err) {
        this.problem(e.seq, 'malformed', `seq ${e.seq} cannot be canonicalised: ${(err as Error).message}`);
      }
      if (computed !== undefined && computed !== e.hash) {
        this.problem(e.seq, 'hash-mismatch', `hash mismatch at seq ${e.seq}: stored ${e.hash.slice(0, 16)}…, recomputed ${computed.slice(0, 16)}… (the entry was altered)`);
      }
    }
    this.count++;
    this.firstSeq ??= e.seq;
    this.lastSeq = e.seq;
    this.lastHash = e.hash;
    if (this.keepHashes.has(e.seq)) this.kept.set(e.seq, { hash: e.hash, at: e.at });
  }
}

/**
 * The exported audit bundle: one JSON file a ministry or certifier verifies offline (`hedgerow audit verify --bundle
 * FILE`, or by hand: every field needed is in it, see HASHING_DESCRIPTION and the README).
 */
import type { AuditEntry } from './chain';

export const BUNDLE_FORMAT = 'hedgerow-audit-bundle/1';

export const HASHING_DESCRIPTION =
  'hash = lower-case hex SHA-256 over the UTF-8 bytes of prevHash followed by the RFC 8785 (JCS) form of ' +
  '{seq, at, processId, actor, event, detail}; the prevHash of seq 1 is 64 zeros, of every other entry the hash of the ' +
  'previous one. head.jws is a compact JWS (ES256 or PS256, certificate chain in the x5c header, kid = DID verification ' +
  'method) over the JCS form of {seq, hash, at, participantId}, covering the last entry.';

export interface BundleHead {
  seq: number;
  hash: string;
  signedAt: string;
  jws: string;
}

export interface AuditBundle {
  format: typeof BUNDLE_FORMAT;
  exportedAt: string;
  /** The connector whose trail this is (the signer's certificate SAN URI). */
  participantId: string;
  hashing: string;
  /** What was asked for; `seqs` lists the matching entries when the contiguous range holds others too. */
  selection: { from: string | null; to: string | null; processId: string | null; matched: number; seqs?: number[] };
  /** A contiguous seq range, in order; the first entry's prevHash links it to the entries before. */
  entries: AuditEntry[];
  /** A signature over the last entry's hash. */
  head: BundleHead;
  /** Earlier signatures stored inside the range (each also checked). */
  checkpoints: BundleHead[];
  /** The signer's certificate chain, leaf first (PEM); the same as the head's x5c. */
  certificateChain: string;
}

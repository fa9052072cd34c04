/**
 * Signed chain heads: a compact JWS (RFC 7515) made with the connector key, ES256 for EC P-256 or PS256 for RSA,
 * over the JCS form of {seq, hash, at, participantId}. The protected header carries `kid` (the verification method id
 * of the connector's DID document) and `x5c` (the certificate chain, leaf first), so any JWS library, or openssl over
 * the signing input, can check it offline, and the chain ties the key to the participant id (the leaf's SAN URI).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { joseLib } from '../lazy';
import { certificateInfo, jwsAlgorithmFor, validateChain } from '../pki';
import { CLOCK_TOLERANCE_SECONDS } from '../identity/peer-token';
import { canonicalJson } from './canonical-json';

export const HEAD_JWS_TYPE = 'hedgerow-audit-head+jws';
const HEX64 = /^[0-9a-f]{64}$/;
/** Clock difference allowed between the signer and the verifier (and for a step of the signer's clock): as for peer tokens. */
export const HEAD_CLOCK_TOLERANCE_MS = CLOCK_TOLERANCE_SECONDS * 1000;

export interface HeadPayload {
  seq: number;
  hash: string;
  /** When the head was signed (ISO 8601). */
  at: string;
  participantId: string;
}

/** What signing needs: the connector key, its chain (leaf first) and the DID verification method id, if known. */
export interface HeadSigningKey {
  participantId: string;
  privateKey: KeyObject;
  chain: X509Certificate[];
  kid?: string | null;
}

/** `<did>#<RFC 7638 thumbprint>`: the verification method id the DID document (src/identity/did.ts) gives the key. */
export async function verificationMethodId(did: string, publicKey: KeyObject): Promise<string> {
  const jose = joseLib();
  return `${did}#${await jose.calculateJwkThumbprint(await jose.exportJWK(publicKey))}`;
}

export async function signHeadJws(key: HeadSigningKey, payload: HeadPayload): Promise<string> {
  const alg = jwsAlgorithmFor(key.privateKey);
  const header = { alg, typ: HEAD_JWS_TYPE, ...(key.kid ? { kid: key.kid } : {}), x5c: key.chain.map((c) => c.raw.toString('base64')) };
  const body = canonicalJson({ seq: payload.seq, hash: payload.hash, at: payload.at, participantId: payload.participantId });
  return new (joseLib().CompactSign)(new TextEncoder().encode(body)).setProtectedHeader(header).sign(key.privateKey);
}

export interface HeadSigner {
  participantId: string | null;
  subject: string;
  /** SHA-256 fingerprint of the signing certificate. */
  fingerprint: string;
  /** Subject of the trust anchor the chain was validated to. */
  anchor?: string;
}

export interface HeadVerification {
  /** Signature, header and payload are well-formed and the signature verifies with the x5c leaf key. */
  valid: boolean;
  /** The x5c chain is valid to a trust anchor at signing time; null when no anchors were given. */
  trusted: boolean | null;
  payload?: HeadPayload;
  signer?: HeadSigner;
  chain?: X509Certificate[];
  kid?: string;
  /** Why it is not valid or not trusted. */
  problem?: string;
}

function parsePayload(bytes: Uint8Array): HeadPayload | string {
  let p: unknown;
  try {
    p = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return 'the payload is not JSON';
  }
  const o = p as Partial<HeadPayload> | null;
  if (!o || typeof o !== 'object') return 'the payload is not an object';
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 0) return 'payload seq is not a non-negative integer';
  if (typeof o.hash !== 'string' || !HEX64.test(o.hash)) return 'payload hash is not 64 hex digits';
  if (typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at))) return 'payload at is not a date';
  if (typeof o.participantId !== 'string' || !o.participantId) return 'payload participantId missing';
  return { seq: o.seq!, hash: o.hash, at: o.at, participantId: o.participantId };
}

/**
 * Verify a signed head. Never throws: the result says what is wrong. The chain must be valid to one of `anchors` at
 * signing time, or its leaf must be one of the `pinned` certificates (the connector's own, when it checks itself).
 */
export async function verifyHeadJws(jws: string, opts: { anchors: X509Certificate[] | null; pinned?: X509Certificate[] }): Promise<HeadVerification> {
  const jose = joseLib();
  const fail = (problem: string, extra: Partial<HeadVerification> = {}): HeadVerification => ({ valid: false, trusted: null, problem, ...extra });
  if (typeof jws !== 'string' || jws.split('.').length !== 3) return fail('not a compact JWS');
  let header: Record<string, unknown>;
  try {
    header = jose.decodeProtectedHeader(jws) as Record<string, unknown>;
  } catch {
    return fail('the JWS header cannot be decoded');
  }
  if (header.typ !== HEAD_JWS_TYPE) return fail(`JWS typ is ${String(header.typ)}, not ${HEAD_JWS_TYPE}`);
  if (header.alg !== 'ES256' && header.alg !== 'PS256') return fail(`JWS algorithm ${String(header.alg)} not accepted (ES256, PS256)`);
  const x5c = header.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 10 || !x5c.every((c) => typeof c === 'string')) return fail('the JWS header has no x5c certificate chain');
  let chain: X509Certificate[];
  try {
    chain = (x5c as string[]).map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
  } catch {
    return fail('x5c holds something that is not a certificate');
  }
  const leaf = chain[0]!;
  let info: ReturnType<typeof certificateInfo>;
  try {
    info = certificateInfo(leaf);
  } catch (err) {
    return fail(`the signing certificate cannot be read: ${(err as Error).message}`);
  }
  const signer: HeadSigner = { participantId: info.participantId, subject: info.subject, fingerprint: info.fingerprintSha256 };
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const base = { signer, chain, ...(kid ? { kid } : {}) };
  let expectedAlg: string;
  try {
    expectedAlg = jwsAlgorithmFor(leaf.publicKey);
  } catch (err) {
    return fail(`the signing certificate's key cannot sign audit heads: ${(err as Error).message}`, base);
  }
  if (header.alg !== expectedAlg) return fail(`JWS algorithm ${String(header.alg)} does not match the certificate key (${expectedAlg})`, base);
  let bytes: Uint8Array;
  try {
    ({ payload: bytes } = await jose.compactVerify(jws, leaf.publicKey, { algorithms: [expectedAlg] }));
  } catch {
    return fail('signature invalid', base);
  }
  const payload = parsePayload(bytes);
  if (typeof payload === 'string') return fail(payload, base);
  if (info.participantId !== payload.participantId) {
    return fail(`signed by the certificate of ${info.participantId ?? '(no participant id)'}, but the head names ${payload.participantId}`, { ...base, payload });
  }
  // The chain is validated at `at`, which the signer chose: not later than now (the lower bound, the covered entry's
  // `at`, is checked against the chain in verify.ts).
  if (Date.parse(payload.at) > Date.now() + HEAD_CLOCK_TOLERANCE_MS) return fail(`the head is dated ${payload.at}, later than now`, { ...base, payload });
  const anchors = opts.anchors ?? [];
  const pinned = opts.pinned ?? [];
  if (anchors.length === 0 && pinned.length === 0) return { valid: true, trusted: null, payload, ...base };
  let why = 'no trust anchor';
  if (anchors.length) {
    try {
      const validated = validateChain(chain, { anchors, at: new Date(payload.at) });
      return { valid: true, trusted: true, payload, ...base, signer: { ...signer, anchor: certificateInfo(validated.anchor).subject } };
    } catch (err) {
      const code = (err as { code?: string }).code;
      why = `${code ? `${code}: ` : ''}${(err as Error).message}`;
    }
  }
  if (pinned.some((p) => p.raw.equals(leaf.raw))) return { valid: true, trusted: true, payload, ...base, signer: { ...signer, anchor: 'the connector certificate (pinned)' } };
  return { valid: true, trusted: false, payload, ...base, problem: `certificate chain not trusted at ${payload.at}: ${why}` };
}

const kids = new WeakMap<object, Promise<string>>();

/** The signing key of a connector identity, with its DID verification method id as `kid` (computed once per identity). */
export async function signingKeyOf(identity: { participantId: string; did: string; privateKey: KeyObject; publicKey: KeyObject; chain: X509Certificate[] }): Promise<HeadSigningKey> {
  let kid = kids.get(identity);
  if (!kid) kids.set(identity, (kid = verificationMethodId(identity.did, identity.publicKey)));
  return { participantId: identity.participantId, privateKey: identity.privateKey, chain: identity.chain, kid: await kid };
}

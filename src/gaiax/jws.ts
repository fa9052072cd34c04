/**
 * JOSE for Gaia-X credentials: Loire VC-JWT / VP-JWT (compact JWS over the bare credential JSON, times in the
 * protected header) and 22.10 JsonWebSignature2020 proofs (detached, unencoded-payload JWS over the URDNA2015
 * canonical form) in both flavours in circulation (NOTES §4):
 *   - "Gaia-X":        payload = ASCII hex of sha256(c14n(document without proof)); proof options are not signed;
 *   - "Specification": payload = sha256(c14n(proof options + contexts)) || sha256(c14n(document without proof)).
 * jsonld is loaded on first use of a 22.10 function only.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { CompactSign, FlattenedSign, compactVerify, decodeProtectedHeader, flattenedVerify, type JWSHeaderParameters } from 'jose';
import { CREDENTIALS_V1, JWS2020_CONTEXT } from './constants';
import { offlineDocumentLoader } from './documents';

export type Json = Record<string, unknown>;
export type Jws2020Flavour = 'gaia-x' | 'specification';

/** Algorithms accepted from other issuers (NOTES §5.2); RSA keys must be at least 2048 bits (checked by node). */
export const ACCEPTED_ALGORITHMS = ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384'];

const encoder = new TextEncoder();

export interface DecodedJws {
  header: JWSHeaderParameters & Json;
  payload: Json;
  /** The exact signing input bytes: ASCII(protected) '.' ASCII(payload). */
  signingInput: string;
  signature: Buffer;
}

/** Splits and parses a compact JWS without verifying it; throws on anything that is not one. */
export function decodeCompactJws(jws: string): DecodedJws {
  const parts = jws.trim().split('.');
  if (parts.length !== 3 || !parts[0] || !parts[1] || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) {
    throw new Error('not a compact JWS (three base64url parts separated by dots)');
  }
  const header = decodeProtectedHeader(parts.join('.')) as JWSHeaderParameters & Json;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    throw new Error('the JWS payload is not JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new Error('the JWS payload is not a JSON object');
  return { header, payload: payload as Json, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
}

/** Signs a JSON payload as a compact JWS with the given protected header (alg included). */
export async function signCompactJws(payload: Json, header: JWSHeaderParameters & Json, key: KeyObject): Promise<string> {
  return new CompactSign(encoder.encode(JSON.stringify(payload))).setProtectedHeader(header as JWSHeaderParameters & { alg: string }).sign(key);
}

/** Verifies a compact JWS; resolves to true or false (false also for algorithms outside `algorithms`). */
export async function verifyCompactJws(jws: string, key: KeyObject, algorithms = ACCEPTED_ALGORITHMS): Promise<boolean> {
  try {
    await compactVerify(jws.trim(), key, { algorithms });
    return true;
  } catch {
    return false;
  }
}

/**
 * JWT-style time from a header or payload: seconds, or milliseconds as real Gaia-X notaries write them (values above
 * 10^11 are milliseconds: 10^11 s is the year 5138). Returns epoch milliseconds, or undefined if absent/not a number.
 */
export function jwtTimeMs(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  return value > 1e11 ? value : value * 1000;
}

// ---------------------------------------------------------------------------------------------------------------
// 22.10: JsonWebSignature2020

function jsonld(): typeof import('jsonld') {
  return require('jsonld') as typeof import('jsonld');
}

/** URDNA2015 N-Quads of a JSON-LD document, offline; `safe: false` as the 22.10 signers (jsonld < 8) produced them. */
export async function canonize(doc: unknown): Promise<string> {
  return (await jsonld().canonize(doc as never, {
    algorithm: 'URDNA2015',
    format: 'application/n-quads',
    documentLoader: offlineDocumentLoader as never,
    safe: false,
  } as never)) as unknown as string;
}

const sha256 = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest();

/** The N-Quads a JsonWebSignature2020 proof covers: `doc` without its proof (removed by the caller), canonicalised. */
async function signedNquads(doc: Json): Promise<string> {
  const nquads = await canonize(doc);
  if (!nquads.trim()) throw new Error('the credential canonicalises to an empty graph (no term is defined by its contexts)');
  return nquads;
}

/** The bytes signed by a JsonWebSignature2020 proof of the given flavour over `doc` (proof removed by the caller). */
export async function jws2020Payload(doc: Json, proofOptions: Json, flavour: Jws2020Flavour): Promise<Buffer> {
  return payloadOver(await signedNquads(doc), proofOptions, flavour);
}

async function payloadOver(nquads: string, proofOptions: Json, flavour: Jws2020Flavour): Promise<Buffer> {
  const docHash = sha256(nquads);
  if (flavour === 'gaia-x') return Buffer.from(docHash.toString('hex'), 'ascii');
  const { jws: _jws, ...options } = proofOptions;
  const optionsHash = sha256(await canonize({ '@context': [CREDENTIALS_V1, JWS2020_CONTEXT], ...options }));
  return Buffer.concat([optionsHash, docHash]);
}

/** Adds a JsonWebSignature2020 proof (detached JWS, b64:false) to a copy of `doc`. */
export async function signJws2020(
  doc: Json,
  opts: { key: KeyObject; alg: string; verificationMethod: string; created?: Date; flavour?: Jws2020Flavour },
): Promise<Json> {
  const { proof: _old, ...unsigned } = doc;
  const proof: Json = {
    type: 'JsonWebSignature2020',
    created: (opts.created ?? new Date()).toISOString(),
    proofPurpose: 'assertionMethod',
    verificationMethod: opts.verificationMethod,
  };
  const payload = await jws2020Payload(unsigned, proof, opts.flavour ?? 'gaia-x');
  const jws = await new FlattenedSign(payload).setProtectedHeader({ alg: opts.alg, b64: false, crit: ['b64'] }).sign(opts.key);
  return { ...unsigned, proof: { ...proof, jws: `${jws.protected}..${jws.signature}` } };
}

export interface Jws2020Result {
  ok: boolean;
  flavour?: Jws2020Flavour;
  alg?: string;
  reason?: string;
  /** When ok: the canonical N-Quads the signature covers (see signedDocument). */
  signed?: string;
}

/** Verifies a JsonWebSignature2020 proof, trying the Gaia-X flavour and then the Specification flavour. */
export async function verifyJws2020(doc: Json, key: KeyObject, algorithms = ACCEPTED_ALGORITHMS): Promise<Jws2020Result> {
  const proof = doc.proof as Json | undefined;
  if (!proof || typeof proof !== 'object') return { ok: false, reason: 'the credential has no proof' };
  if (proof.type !== 'JsonWebSignature2020') return { ok: false, reason: `unsupported proof type ${JSON.stringify(proof.type)}` };
  const jws = proof.jws;
  if (typeof jws !== 'string' || !/^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/.test(jws)) return { ok: false, reason: 'proof.jws is not a detached JWS' };
  const [headerB64, signatureB64] = jws.split('..') as [string, string];
  let header: Json;
  try {
    header = JSON.parse(Buffer.from(headerB64, 'base64url').toString('utf8')) as Json;
  } catch {
    return { ok: false, reason: 'the proof JWS header is not JSON' };
  }
  const alg = String(header.alg);
  if (!algorithms.includes(alg)) return { ok: false, reason: `algorithm ${alg} is not accepted` };
  if (header.b64 !== false || !Array.isArray(header.crit) || !header.crit.includes('b64')) {
    return { ok: false, reason: 'the proof JWS header must be {"b64":false,"crit":["b64"]}' };
  }
  const { proof: _p, ...unsigned } = doc;
  const nquads = await signedNquads(unsigned);
  for (const flavour of ['gaia-x', 'specification'] as const) {
    const payload = await payloadOver(nquads, proof, flavour);
    try {
      await flattenedVerify({ protected: headerB64, payload, signature: signatureB64 }, key, { algorithms });
      return { ok: true, flavour, alg, signed: nquads };
    } catch {
      /* try the next flavour */
    }
  }
  return { ok: false, alg, reason: 'the signature does not verify in either JsonWebSignature2020 flavour (tampered content or another key)' };
}

const CREDENTIALS_V1_VOCAB = 'https://www.w3.org/2018/credentials#';

/**
 * A 22.10 credential or presentation as its JsonWebSignature2020 proof covers it, read back from the signed N-Quads:
 * `{ '@id', '@type', issuer, holder, credentialSubject }` with IRIs for types and property names and the subjects
 * embedded one level. Terms JSON-LD dropped (undefined or blank-node terms, relative IRIs) and context tricks that
 * leave the graph unchanged (a bare type aliased to an IRI already there, an @base) are therefore invisible here,
 * which the raw JSON is not: checks on the content must read this. Blank-node labels are omitted, as canonical labels
 * repeat across credentials. `id` picks the node when several are typed as credentials.
 */
export async function signedDocument(nquads: string, id?: unknown): Promise<Json> {
  const nodes = (await jsonld().fromRDF(nquads, { format: 'application/n-quads' })) as unknown as Json[];
  const byId = new Map(nodes.map((n) => [n['@id'] as string, n]));
  const refs = (node: Json | undefined, term: string) =>
    ((node?.[`${CREDENTIALS_V1_VOCAB}${term}`] ?? []) as Json[]).map((v) => v['@id']).filter((v): v is string => typeof v === 'string');
  const named = (ref: string) => (ref.startsWith('_:') ? undefined : ref);
  const typed = nodes.filter((n) => ([] as unknown[]).concat(n['@type'] ?? []).some((t) => t === `${CREDENTIALS_V1_VOCAB}VerifiableCredential` || t === `${CREDENTIALS_V1_VOCAB}VerifiablePresentation`));
  const top = typed.find((n) => n['@id'] === id) ?? typed[0];
  const subjects = refs(top, 'credentialSubject').map((ref) => {
    const { '@id': _id, ...node } = byId.get(ref) ?? {};
    return named(ref) ? { '@id': ref, ...node } : node;
  });
  const out: Json = { '@type': top?.['@type'] ?? [], credentialSubject: subjects };
  if (top && named(String(top['@id']))) out['@id'] = top['@id'];
  for (const term of ['issuer', 'holder']) {
    const ref = refs(top, term).find(named);
    if (ref) out[term] = ref;
  }
  return out;
}

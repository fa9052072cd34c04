/**
 * The certifier's verifier: checks a Gaia-X self-description the way the compliance service does and reports each
 * of eight steps with PASS or FAIL and the reason (NOTES §6-7):
 *   1 format      Loire VC-JWT / VP-JWT (EnvelopedVerifiableCredential), or 22.10 JSON-LD VC / VP;
 *   2 did         did:web resolution (HTTPS, offline cache, documents given as files);
 *   3 key         the verification method named by `kid` / `proof.verificationMethod`, listed under assertionMethod;
 *   4 chain       x5c / x5u chain valid to the trust anchors, leaf key equal to the JWK, leaf naming the did:web host;
 *   5 signature   compact JWS (Loire) or JsonWebSignature2020 in both flavours (22.10);
 *   6 validity    validFrom/validUntil, issuanceDate/expirationDate, header iat/exp in seconds or milliseconds;
 *   7 shacl       the credentials' subjects together against the release's shapes (25.11 or 22.10);
 *   8 rules       cross-credential rules (rules.ts).
 * A step that cannot run because an earlier one failed for a credential is reported FAIL with "not checked". The
 * verification passes only if all eight steps pass.
 */
import crypto, { type KeyObject, type X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { certificateInfo, validateChain } from '../pki';
import { PkiError } from '../errors';
import { CLOCK_SKEW_MS, CREDENTIALS_V2, type ShapesRelease } from './constants';
import { ACCEPTED_ALGORITHMS, decodeCompactJws, jwtTimeMs, signedDocument, verifyCompactJws, verifyJws2020, type DecodedJws, type Json } from './jws';
import { DidResolver, ResolutionError, didOf, didWebHost, jwkToKey } from './did-resolver';
import { checkRules, idOf, subjectsOf, typesOf, type RuleFinding, type RuleSettings } from './rules';
import { sharedShaclPool, type ShaclPool, type ShaclReport } from './shacl';
import { credentialDigest, signResultCredential, type ResultSigner } from './result-credential';

export type StepStatus = 'PASS' | 'FAIL';

export interface Finding {
  code: string;
  credential: string;
  message: string;
}

export interface StepReport {
  step: number;
  name: string;
  title: string;
  status: StepStatus;
  reason: string;
  findings: Finding[];
}

export interface CredentialReport {
  label: string;
  role: 'presentation' | 'credential';
  format: 'loire-jwt' | '22.10-json-ld';
  id: string | null;
  types: string[];
  issuer: string | null;
  kid: string | null;
  alg?: string;
  flavour?: string;
  didSource?: string;
  chainSource?: string;
  trustAnchor?: string;
  certificateNotAfter?: string;
  validFrom?: string;
  validUntil?: string;
  /** sha256 of the RFC 8785 canonical JSON: Loire the decoded payload, 22.10 the credential with its proof. */
  sha256?: string;
  digestSRI?: string;
}

export interface VerificationReport {
  format: string;
  ok: boolean;
  verifiedAt: string;
  steps: StepReport[];
  credentials: CredentialReport[];
  warnings: string[];
  shacl?: ShaclReport;
  /** Compact VC-JWT attesting the result, signed with the verifier's key (only when every step passed). */
  resultCredential?: string;
}

export interface VerifyOptions {
  resolver: DidResolver;
  anchors: X509Certificate[];
  settings: RuleSettings;
  shacl?: ShaclPool;
  now?: Date;
  /** Sign a result credential with this key when every step passes. */
  resultSigner?: ResultSigner;
}

const STEPS: Array<[string, string]> = [
  ['format', 'format detection'],
  ['did', 'did:web resolution'],
  ['key', 'key selection (kid / verificationMethod under assertionMethod)'],
  ['chain', 'certificate chain to a trust anchor, leaf key = JWK'],
  ['signature', 'signature'],
  ['validity', 'validity dates'],
  ['shacl', 'SHACL shapes'],
  ['rules', 'cross-credential rules'],
];

interface Unit {
  label: string;
  role: 'presentation' | 'credential';
  format: 'loire-jwt' | '22.10-json-ld';
  doc: Json;
  jwt?: string;
  decoded?: DecodedJws;
  /** Unsigned 22.10 presentation: nothing to resolve or verify. */
  unsigned?: boolean;
  /** 22.10 with a verified proof: the document as the signature covers it (signedDocument), what the rules read. */
  signed?: Json;
  issuer?: string;
  didDocument?: Json;
  kid?: string;
  key?: KeyObject;
  jwk?: Json;
  alg?: string;
  blocked: boolean;
  report: CredentialReport;
}

class FormatError extends Error {}

const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const issuerOf = (v: unknown): string | undefined => asString(v) ?? idOf(v);
const signerOf = (doc: Json): string | undefined => issuerOf(doc.issuer) ?? issuerOf(doc.holder);
const contextsOf = (doc: Json): string[] => ([] as unknown[]).concat(doc['@context'] ?? []).filter((c): c is string => typeof c === 'string');

function parseJson(text: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`the input is neither a compact JWS nor JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FormatError('the JSON input is not an object');
  return value as Json;
}

/** Unwraps `{vp: …}` / `{vc: …}` JWT claims sets (older VC-JWT encodings). */
function unwrap(payload: Json): Json {
  for (const claim of ['vp', 'vc']) {
    const inner = payload[claim];
    if (inner && typeof inner === 'object' && !Array.isArray(inner) && !payload.type) return inner as Json;
  }
  return payload;
}

function newUnit(role: Unit['role'], format: Unit['format'], doc: Json, index: number, jwt?: string, decoded?: DecodedJws): Unit {
  const id = asString(doc.id) ?? null;
  const label = role === 'presentation' ? `presentation${id ? ` ${id}` : ''}` : (id ?? `credential #${index + 1}`);
  const unit: Unit = { label, role, format, doc, blocked: false, report: { label, role, format, id, types: typesOf(doc), issuer: null, kid: null } };
  if (jwt) unit.jwt = jwt;
  if (decoded) unit.decoded = decoded;
  return unit;
}

function jwtUnit(role: Unit['role'], jwt: string, index: number): Unit {
  let decoded: DecodedJws;
  try {
    decoded = decodeCompactJws(jwt);
  } catch (err) {
    throw new FormatError(`${role === 'presentation' ? 'the presentation' : `credential #${index + 1}`}: ${(err as Error).message}`);
  }
  return newUnit(role, 'loire-jwt', unwrap(decoded.payload), index, jwt.trim(), decoded);
}

function credentialUnits(entries: unknown, holderFormat: string): Unit[] {
  const list = ([] as unknown[]).concat(entries ?? []);
  if (!list.length) throw new FormatError(`the ${holderFormat} holds no verifiableCredential`);
  return list.map((entry, i) => {
    if (typeof entry === 'string') return jwtUnit('credential', entry.replace(/^data:application\/[^,]*,/, ''), i);
    if (entry && typeof entry === 'object') {
      const e = entry as Json;
      if (typesOf(e).includes('EnvelopedVerifiableCredential')) {
        const id = asString(e.id) ?? '';
        const m = /^data:application\/[a-z0-9.+-]*jwt[a-z0-9.+-]*(;[^,]*)?,(.*)$/i.exec(id);
        if (!m) throw new FormatError(`credential #${i + 1}: EnvelopedVerifiableCredential id is not a data:application/vc+jwt URL`);
        return jwtUnit('credential', m[2]!, i);
      }
      if (e.proof) return newUnit('credential', '22.10-json-ld', e, i);
      throw new FormatError(`credential #${i + 1} is neither a VC-JWT nor a JSON-LD credential with a proof`);
    }
    throw new FormatError(`credential #${i + 1} is not a credential`);
  });
}

/** Step 1: what is it? Returns the presentation unit (if any) and the credential units. */
export function detectFormat(input: string | Json): { format: string; units: Unit[] } {
  let text = typeof input === 'string' ? input.trim() : undefined;
  if (text !== undefined && /^data:application\/[^,]*,/.test(text)) text = text.replace(/^data:application\/[^,]*,/, '');
  if (text !== undefined && !text.startsWith('{')) {
    const top = jwtUnit('presentation', text, 0);
    if (typesOf(top.doc).includes('VerifiablePresentation')) {
      const creds = credentialUnits(top.doc.verifiableCredential, 'presentation');
      return { format: `Loire VP-JWT with ${creds.length} credential(s)`, units: [top, ...creds] };
    }
    if (typesOf(top.doc).includes('VerifiableCredential')) {
      const vc = newUnit('credential', 'loire-jwt', top.doc, 0, top.jwt, top.decoded);
      return { format: 'Loire VC-JWT', units: [vc] };
    }
    throw new FormatError('the JWS payload is neither a VerifiablePresentation nor a VerifiableCredential');
  }
  const doc = unwrap(typeof input === 'string' ? parseJson(text!) : input);
  const types = typesOf(doc);
  if (types.includes('VerifiablePresentation')) {
    const creds = credentialUnits(doc.verifiableCredential, 'presentation');
    const vp = newUnit('presentation', contextsOf(doc).includes(CREDENTIALS_V2) ? 'loire-jwt' : '22.10-json-ld', doc, 0);
    if (!doc.proof) vp.unsigned = true;
    const kinds = new Set(creds.map((c) => c.format));
    const kind = kinds.size === 1 && kinds.has('22.10-json-ld') ? '22.10 JSON-LD VP' : 'JSON VP';
    return { format: `${kind} with ${creds.length} credential(s)`, units: [vp, ...creds] };
  }
  if (types.includes('VerifiableCredential')) {
    if (!doc.proof) throw new FormatError('the JSON-LD credential has no proof');
    return { format: '22.10 JSON-LD VC', units: [newUnit('credential', '22.10-json-ld', doc, 0)] };
  }
  throw new FormatError(`the JSON input is neither a VerifiablePresentation nor a VerifiableCredential (type ${JSON.stringify(doc.type ?? null)})`);
}

/** The shapes release a set of credentials belongs to: 22.10 if they use the trust-framework vocabulary. */
export function releaseOf(docs: Json[]): ShapesRelease {
  const text = JSON.stringify(docs.map((d) => d['@context']));
  return text.includes('trusted-shape-registry') ? '22.10' : '25.11';
}

const summarise = (findings: Finding[]) =>
  findings
    .slice(0, 4)
    .map((f) => `${f.code}: ${f.message}${f.credential && !f.message.includes(f.credential) ? ` (${f.credential})` : ''}`)
    .join('; ') + (findings.length > 4 ? `; and ${findings.length - 4} more` : '');

function absolute(id: string, base: string): string {
  return id.startsWith('#') ? `${base}${id}` : id;
}

function dateMs(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? NaN : t;
}

export async function verifySelfDescription(input: string | Json, opts: VerifyOptions): Promise<VerificationReport> {
  const now = opts.now ?? new Date();
  const nowMs = now.getTime();
  const warnings: string[] = [];
  const steps: StepReport[] = STEPS.map(([name, title], i) => ({ step: i + 1, name, title, status: 'PASS', reason: '', findings: [] }));
  const fail = (step: number, f: Finding) => steps[step - 1]!.findings.push(f);
  const report = (format: string, units: Unit[], shacl?: ShaclReport): VerificationReport => {
    for (const s of steps) {
      if (s.findings.length) {
        s.status = 'FAIL';
        s.reason = summarise(s.findings);
      }
    }
    return {
      format,
      ok: steps.every((s) => s.status === 'PASS'),
      verifiedAt: now.toISOString(),
      steps,
      credentials: units.map((u) => u.report),
      warnings,
      ...(shacl ? { shacl } : {}),
    };
  };

  // ---- 1. format
  let detected: { format: string; units: Unit[] };
  try {
    detected = detectFormat(input);
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    fail(1, { code: 'FORMAT_UNRECOGNISED', credential: 'input', message: err.message });
    for (const s of steps.slice(1)) s.findings.push({ code: 'NOT_CHECKED', credential: 'input', message: 'not checked: the format was not recognised' });
    return report('unrecognised', []);
  }
  const { format, units } = detected;
  const creds = units.filter((u) => u.role === 'credential');
  const presentation = units.find((u) => u.role === 'presentation');
  steps[0]!.reason = format;

  // Signer of each unit.
  for (const u of units) {
    if (u.unsigned) continue;
    if (u.format === 'loire-jwt') {
      if (!u.jwt) {
        fail(5, { code: 'VP_UNSIGNED', credential: u.label, message: 'a Loire presentation must be a signed VP-JWT' });
        u.unsigned = true;
        continue;
      }
      const h = u.decoded!.header;
      u.alg = asString(h.alg);
      u.kid = asString(h.kid);
      u.issuer = asString(h.iss) ?? signerOf(u.doc);
      const typ = asString(h.typ);
      const accepted = u.role === 'presentation' ? /^(vp\+jwt|vp\+ld\+jwt|vp\+ld\+json\+jwt|jwt)$/i : /^(vc\+jwt|vc\+ld\+jwt|vc\+ld\+json\+jwt|jwt)$/i;
      if (typ !== undefined && !accepted.test(typ)) warnings.push(`${u.label}: unexpected JWS typ "${typ}"`);
    } else {
      const proof = u.doc.proof as Json | undefined;
      u.kid = asString(proof?.verificationMethod);
      u.issuer = signerOf(u.doc);
    }
    u.report.issuer = u.issuer ?? null;
    u.report.kid = u.kid ?? null;
    if (u.alg) u.report.alg = u.alg;
  }
  const signed = units.filter((u) => !u.unsigned);
  if (presentation?.unsigned && presentation.format === '22.10-json-ld') warnings.push('the 22.10 presentation carries no proof (accepted, as by the 22.10 compliance service)');

  // ---- 2. did:web resolution
  const didDocs = new Map<string, Promise<{ document: Json; source: string }>>();
  for (const u of signed) {
    const did = u.kid && !u.kid.startsWith('#') ? didOf(u.kid) : u.issuer;
    if (!did) {
      fail(2, { code: 'DID_UNRESOLVABLE', credential: u.label, message: 'names neither a kid nor an issuer DID' });
      u.blocked = true;
      continue;
    }
    if (!didDocs.has(did)) didDocs.set(did, opts.resolver.resolve(did));
    try {
      const { document, source } = await didDocs.get(did)!;
      u.report.didSource = source;
      u.didDocument = document;
    } catch (err) {
      const code = err instanceof ResolutionError ? err.code : 'DID_UNRESOLVABLE';
      fail(2, { code: code === 'DID_NOT_WEB' || code === 'DID_DOCUMENT_INVALID' ? code : 'DID_UNRESOLVABLE', credential: u.label, message: `${did}: ${(err as Error).message}` });
      u.blocked = true;
    }
  }
  steps[1]!.reason = `${didDocs.size} DID document(s) resolved`;

  // ---- 3. key selection
  for (const u of signed) {
    if (u.blocked) {
      fail(3, { code: 'NOT_CHECKED', credential: u.label, message: 'not checked: the DID was not resolved' });
      continue;
    }
    const doc = u.didDocument!;
    const did = String(doc.id);
    const f = (code: string, message: string) => {
      fail(3, { code, credential: u.label, message });
      u.blocked = true;
    };
    if (!u.kid) {
      f('UNKNOWN_KID', u.format === 'loire-jwt' ? 'the JWS header has no kid' : 'the proof has no verificationMethod');
      continue;
    }
    const kid = absolute(u.kid, did);
    if (u.format === 'loire-jwt') {
      const payloadIssuer = issuerOf(u.doc.issuer) ?? (u.role === 'presentation' ? issuerOf(u.doc.holder) : undefined);
      if (u.issuer && payloadIssuer && u.issuer !== payloadIssuer) {
        f('ISSUER_MISMATCH', `the header iss ${u.issuer} differs from the payload issuer ${payloadIssuer}`);
        continue;
      }
      if (u.issuer && !kid.startsWith(`${u.issuer}#`)) {
        f('ISSUER_MISMATCH', `the kid ${kid} does not belong to the issuer ${u.issuer}`);
        continue;
      }
    } else if (u.issuer && didOf(kid) !== u.issuer) {
      f('ISSUER_MISMATCH', `the proof's verificationMethod ${kid} does not belong to the issuer ${u.issuer}`);
      continue;
    }
    const methods = ([] as unknown[]).concat(doc.verificationMethod ?? []).filter((m): m is Json => typeof m === 'object' && m !== null);
    const method = methods.find((m) => typeof m.id === 'string' && absolute(m.id, did) === kid);
    if (!method) {
      f('UNKNOWN_KID', `${kid} is not a verification method of ${did}`);
      continue;
    }
    const assertion = ([] as unknown[]).concat(doc.assertionMethod ?? []).map((a) => idOf(a)).filter((a): a is string => !!a).map((a) => absolute(a, did));
    if (!assertion.includes(kid)) {
      f('NOT_ASSERTION_METHOD', `${kid} is not listed under assertionMethod of ${did}`);
      continue;
    }
    const jwk = method.publicKeyJwk as Json | undefined;
    if (!jwk || typeof jwk !== 'object') {
      f('KEY_INVALID', `${kid} has no publicKeyJwk`);
      continue;
    }
    try {
      u.key = jwkToKey(jwk);
      u.jwk = jwk;
    } catch (err) {
      f('KEY_INVALID', `the publicKeyJwk of ${kid} is unusable: ${(err as Error).message}`);
      continue;
    }
    if (u.format === '22.10-json-ld') {
      try {
        u.alg = String(JSON.parse(Buffer.from(String((u.doc.proof as Json).jws).split('.')[0]!, 'base64url').toString()).alg);
        u.report.alg = u.alg;
      } catch {
        /* reported by the signature step */
      }
    }
    if (typeof jwk.alg === 'string' && u.alg && jwk.alg !== u.alg) f('ALGORITHM_MISMATCH', `the JWK of ${kid} is for ${jwk.alg}, the signature uses ${u.alg}`);
  }
  steps[2]!.reason = 'every signer key is a verification method under assertionMethod';

  // ---- 4. certificate chain
  const chains = new Map<string, Promise<{ chain: X509Certificate[]; source: string }>>();
  for (const u of signed) {
    if (u.blocked || !u.key) {
      fail(4, { code: 'NOT_CHECKED', credential: u.label, message: 'not checked: no key was selected' });
      continue;
    }
    const spki = u.key.export({ type: 'spki', format: 'der' }).toString('base64');
    if (!chains.has(spki)) chains.set(spki, opts.resolver.chain(u.jwk!, u.key));
    try {
      const { chain, source } = await chains.get(spki)!;
      u.report.chainSource = source;
      const leafSpki = chain[0]!.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
      if (leafSpki !== spki) {
        fail(4, { code: 'KEY_MISMATCH', credential: u.label, message: `the leaf certificate's key is not the JWK of ${u.kid}` });
        u.blocked = true;
        continue;
      }
      const { anchor } = validateChain(chain, { anchors: opts.anchors, at: now });
      const leaf = certificateInfo(chain[0]!);
      u.report.trustAnchor = certificateInfo(anchor).subject;
      u.report.certificateNotAfter = leaf.notAfter.toISOString();
      // The chain vouches for a host, not for a DID: unless it names the did:web's host, the key may be anyone's.
      const host = didWebHost(String(u.didDocument!.id));
      if (!(isIP(host) ? chain[0]!.checkIP(host) : chain[0]!.checkHost(host, { subject: 'never', partialWildcards: false }))) {
        fail(4, { code: 'HOST_MISMATCH', credential: u.label, message: `the certificate of ${u.kid} does not name the did:web host ${host} (SAN)` });
        u.blocked = true;
      }
    } catch (err) {
      const pki = err instanceof PkiError ? err.code : undefined;
      const code =
        err instanceof ResolutionError
          ? err.code
          : pki === 'CERT_EXPIRED' || pki === 'CERT_NOT_YET_VALID'
            ? pki
            : pki === 'CERT_UNTRUSTED'
              ? 'CHAIN_UNTRUSTED'
              : 'CHAIN_INVALID';
      fail(4, { code, credential: u.label, message: (err as Error).message });
      u.blocked = true;
    }
  }
  steps[3]!.reason = `${chains.size} certificate chain(s) valid to ${opts.anchors.length} trust anchor(s)`;

  // ---- 5. signature
  for (const u of signed) {
    if (!u.key) {
      fail(5, { code: 'NOT_CHECKED', credential: u.label, message: 'not checked: no key was selected' });
      continue;
    }
    if (u.format === 'loire-jwt') {
      const algs = u.alg && ACCEPTED_ALGORITHMS.includes(u.alg) ? [u.alg] : [];
      if (!algs.length) fail(5, { code: 'ALGORITHM_UNSUPPORTED', credential: u.label, message: `algorithm ${u.alg} is not accepted` });
      else if (!(await verifyCompactJws(u.jwt!, u.key, algs))) {
        fail(5, { code: 'SIGNATURE_INVALID', credential: u.label, message: `the JWS signature does not verify with ${u.kid} (tampered content or another key)` });
      }
    } else {
      const result = await verifyJws2020(u.doc, u.key).catch((err: Error) => ({ ok: false, reason: err.message, flavour: undefined, signed: undefined }));
      if (!result.ok) {
        fail(5, { code: 'SIGNATURE_INVALID', credential: u.label, message: `${result.reason ?? 'invalid signature'} (${u.kid})` });
        continue;
      }
      u.report.flavour = result.flavour!;
      u.signed = await signedDocument(result.signed!, u.doc.id);
      u.report.types = typesOf(u.signed);
      // The key was bound to the issuer read from the JSON (step 3): it must be the one the signature covers.
      const signedIssuer = signerOf(u.signed);
      if (signedIssuer !== u.issuer) {
        fail(5, { code: 'ISSUER_MISMATCH', credential: u.label, message: `the issuer ${u.issuer ?? '(none)'} read from the JSON is not the signed issuer ${signedIssuer ?? '(none)'}` });
      }
    }
  }
  steps[4]!.reason = `${signed.length} signature(s) verified`;

  // ---- 6. validity dates
  for (const u of units) {
    const d = u.doc;
    const from = dateMs(d.validFrom) ?? dateMs(d.issuanceDate);
    const until = dateMs(d.validUntil) ?? dateMs(d.expirationDate);
    const h = u.decoded?.header ?? {};
    const claims = u.decoded?.payload ?? {};
    const iat = jwtTimeMs(h.iat) ?? jwtTimeMs(claims.iat);
    const nbf = jwtTimeMs(h.nbf) ?? jwtTimeMs(claims.nbf);
    const exp = jwtTimeMs(h.exp) ?? jwtTimeMs(claims.exp);
    const bad = (code: string, message: string) => fail(6, { code, credential: u.label, message });
    if (Number.isNaN(from) || Number.isNaN(until)) bad('DATE_INVALID', 'validFrom/validUntil (or issuanceDate/expirationDate) is not an RFC 3339 date');
    if (from !== undefined && !Number.isNaN(from)) u.report.validFrom = new Date(from).toISOString();
    if (until !== undefined && !Number.isNaN(until)) u.report.validUntil = new Date(until).toISOString();
    if (u.format === '22.10-json-ld' && u.role === 'credential' && d.issuanceDate === undefined) bad('DATE_INVALID', 'the 22.10 credential has no issuanceDate');
    for (const [name, t] of [['valid from', from], ['issued (iat)', iat], ['not before (nbf)', nbf]] as const) {
      if (t !== undefined && !Number.isNaN(t) && t > nowMs + CLOCK_SKEW_MS) bad('CREDENTIAL_NOT_YET_VALID', `${name} ${new Date(t).toISOString()} is in the future`);
    }
    for (const [name, t] of [['valid until', until], ['expiry (exp)', exp]] as const) {
      if (t !== undefined && !Number.isNaN(t) && t < nowMs - CLOCK_SKEW_MS) bad('CREDENTIAL_EXPIRED', `${name} ${new Date(t).toISOString()} has passed`);
    }
    if (from !== undefined && until !== undefined && from > until) bad('DATE_INVALID', 'validFrom is after validUntil');
  }
  steps[5]!.reason = `${units.length} validity window(s) include ${now.toISOString()}`;

  // ---- 7. SHACL
  let shacl: ShaclReport | undefined;
  const docs = creds.map((u) => u.doc);
  if (docs.length) {
    const release = releaseOf(docs);
    const graphs = docs.map((d) => ({ '@context': d['@context'], '@graph': subjectsOf(d) }));
    try {
      shacl = await (opts.shacl ?? sharedShaclPool()).validate(release, graphs);
      for (const r of shacl.results) {
        if (r.severity !== 'Violation') {
          warnings.push(`SHACL ${r.severity}: ${r.focusNode} ${r.path ?? ''}: ${r.message}`);
          continue;
        }
        fail(7, { code: 'SHACL_VIOLATION', credential: r.focusNode, message: `${r.focusNode}${r.path ? ` ${r.path}` : ''}: ${r.message}${r.value ? ` (value ${r.value})` : ''}` });
      }
      steps[6]!.reason = `${shacl.triples} triples conform to the ${release} shapes`;
    } catch (err) {
      fail(7, { code: 'SHACL_ERROR', credential: 'presentation', message: `SHACL validation could not run: ${(err as Error).message}` });
    }
  } else fail(7, { code: 'NOT_CHECKED', credential: 'input', message: 'not checked: no credential' });

  // ---- 8. rules
  // 22.10: types, subjects and links from the signed graph only; ids as written, so that relative ones are still named.
  const ruleCreds = creds.map((u) => {
    const d = u.signed ?? u.doc;
    return { label: u.label, id: u.doc.id, writtenSubjectIds: subjectsOf(u.doc).map(idOf), issuer: u.signed ? signerOf(u.signed) : u.issuer, types: typesOf(d).concat(subjectsOf(d).flatMap(typesOf)), subjects: subjectsOf(d) };
  });
  const { findings, checked } = checkRules(ruleCreds, {
    presentation: !!presentation,
    settings: opts.settings,
    ...(presentation?.issuer && !presentation.unsigned ? { holder: presentation.issuer } : {}),
  });
  for (const f of findings as RuleFinding[]) fail(8, f);
  steps[7]!.reason = `checked: ${checked.join(', ')}`;

  for (const u of creds) Object.assign(u.report, credentialDigest(u.doc));
  for (const s of steps) if (!s.reason) s.reason = 'ok';
  const result = report(format, units, shacl);
  if (result.ok && opts.resultSigner) {
    result.resultCredential = await signResultCredential(opts.resultSigner, result, now);
  }
  return result;
}

export const sha256Hex = (data: string) => crypto.createHash('sha256').update(data).digest('hex');

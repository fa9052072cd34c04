/**
 * Digests and the verifier's result credential. The digest of a credential is the SHA-256 of its RFC 8785 (JCS)
 * canonical JSON, as the Gaia-X compliance service computes it: Loire over the decoded VC-JWT payload, 22.10 over the
 * whole credential including its proof (NOTES §3.7, §5.6). The result credential mimics a compliance credential but
 * under the verifier's own DID and a non-gx type: hedgerow is not a Gaia-X Digital Clearing House.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { CREDENTIALS_V2 } from './constants';
import { signCompactJws, type Json } from './jws';
import type { VerificationReport } from './verifier';

export interface ResultSigner {
  did: string;
  kid: string;
  alg: string;
  privateKey: KeyObject;
  validityDays?: number;
}

export const RESULT_VOCABULARY = 'https://w3id.org/hedgerow/verification#';

function jcs(value: unknown): string {
  const canonicalize = require('canonicalize') as (v: unknown) => string | undefined;
  const out = canonicalize(value);
  if (out === undefined) throw new Error('the value has no JSON canonical form');
  return out;
}

export function credentialDigest(doc: Json): { sha256: string; digestSRI: string } {
  const digest = crypto.createHash('sha256').update(jcs(doc), 'utf8').digest();
  return { sha256: digest.toString('hex'), digestSRI: `sha256-${digest.toString('base64')}` };
}

/** A compact VC-JWT stating which credentials passed which checks, signed with the verifier's key. */
export async function signResultCredential(signer: ResultSigner, report: VerificationReport, now: Date): Promise<string> {
  const validUntil = new Date(now.getTime() + (signer.validityDays ?? 90) * 86_400_000);
  const earliestExpiry = report.credentials
    .map((c) => (c.validUntil ? Date.parse(c.validUntil) : Infinity))
    .concat(report.credentials.map((c) => (c.certificateNotAfter ? Date.parse(c.certificateNotAfter) : Infinity)))
    .reduce((a, b) => Math.min(a, b), validUntil.getTime());
  const payload: Json = {
    '@context': [CREDENTIALS_V2, { '@vocab': RESULT_VOCABULARY }],
    type: ['VerifiableCredential', 'VerificationResult'],
    id: `urn:uuid:${crypto.randomUUID()}`,
    issuer: signer.did,
    validFrom: now.toISOString(),
    validUntil: new Date(earliestExpiry).toISOString(),
    credentialSubject: {
      id: `urn:uuid:${crypto.randomUUID()}`,
      type: 'VerificationResult',
      result: 'PASS',
      format: report.format,
      checks: report.steps.map((s) => s.name),
      verifiedCredentials: report.credentials
        .filter((c) => c.role === 'credential')
        .map((c) => ({ id: c.id ?? c.label, credentialType: c.types.filter((t) => t !== 'VerifiableCredential'), issuer: c.issuer, digestSRI: c.digestSRI, sha256: c.sha256 })),
    },
  };
  return signCompactJws(
    payload,
    { alg: signer.alg, typ: 'vc+jwt', cty: 'vc', iss: signer.did, kid: signer.kid, iat: now.getTime(), exp: Date.parse(String(payload.validUntil)) },
    signer.privateKey,
  );
}

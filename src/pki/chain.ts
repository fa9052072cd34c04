/**
 * Certification path validation: the single place that decides whether a certificate chain is trusted. Used for
 * the connector's own chain (doctor, start), for peers' chains, and before issuing.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { PkiError } from '../errors';
import { UNDERSTOOD_EXTENSIONS } from './extensions';
import { keyMatchesCertificate } from './keys';
import { formatName, namesMatch } from './names';
import { certificateFields, certificateLabel } from './x509';

export interface ChainValidationOptions {
  /** Trusted CA certificates (usually self-signed roots, but any CA certificate can be trusted directly). */
  anchors: X509Certificate[];
  /** Time at which every certificate in the path must be valid; default now. */
  at?: Date;
  /** Further candidate intermediates (e.g. from a local cache) besides those sent in the chain. */
  extraIntermediates?: X509Certificate[];
}

export interface ValidatedChain {
  /** The trust anchor the path ends at. */
  anchor: X509Certificate;
  /** Leaf first, then each issuer, ending with the anchor. */
  path: X509Certificate[];
}

/** Longer paths are refused rather than searched: real connector chains have one or two CAs. */
const MAX_PATH_CERTIFICATES = 8;

/**
 * Builds the path from the leaf (chain[0]) to a trust anchor and validates it. The chain's other certificates
 * (in any order) and `extraIntermediates` are the candidate issuers; a copy of the anchor in the chain is fine.
 *
 * Checks, walking up from the leaf, so that the reported reason is deterministic and names the certificate:
 * 0. the leaf is an end-entity certificate that may sign (every caller verifies a signature made with its key):
 *    not a CA (LEAF_IS_CA), digitalSignature if keyUsage is present (LEAF_NO_DIGITAL_SIGNATURE);
 * 1. the certificate is within its validity period at `at` (CERT_EXPIRED, CERT_NOT_YET_VALID) and has no critical
 *    extension we do not understand (CERT_INVALID); a certificate equal to an anchor ends the path here;
 * 2. an issuer is found: subject matches the issuer name and the key identifiers do not contradict
 *    (CERT_UNTRUSTED otherwise), and its key verifies the signature (CERT_BAD_SIGNATURE);
 * 3. the issuer may issue: CA:true (ISSUER_NOT_CA), keyCertSign if keyUsage is present
 *    (ISSUER_NO_KEY_CERT_SIGN), and its pathLen is not exceeded (PATH_LENGTH_EXCEEDED).
 */
export function validateChain(chain: X509Certificate[], opts: ChainValidationOptions): ValidatedChain {
  const leaf = chain[0];
  if (!leaf) throw new PkiError('CERT_INVALID', 'the certificate chain is empty');
  assertMaySign(leaf);
  const at = opts.at ?? new Date();
  const candidates = [...chain.slice(1), ...(opts.extraIntermediates ?? [])];
  const path = [leaf];
  for (;;) {
    const current = path[path.length - 1]!;
    assertCurrentlyUsable(current, at);
    if (opts.anchors.some((anchor) => anchor.raw.equals(current.raw))) return { anchor: current, path };
    if (path.length >= MAX_PATH_CERTIFICATES) {
      const message = `the chain of ${certificateLabel(leaf)} is longer than ${MAX_PATH_CERTIFICATES} certificates`;
      throw new PkiError('PATH_LENGTH_EXCEEDED', message);
    }
    const issuer = findIssuer(current, opts.anchors, candidates.filter((c) => !path.some((p) => p.raw.equals(c.raw))));
    assertMayIssue(issuer, path.length - 1);
    path.push(issuer);
  }
}

/** PkiError KEY_MISMATCH unless the private key belongs to the certificate. */
export function verifyKeyPair(privateKey: KeyObject, cert: X509Certificate): void {
  if (!keyMatchesCertificate(privateKey, cert)) {
    throw new PkiError('KEY_MISMATCH', `the private key does not match certificate ${certificateLabel(cert)}`);
  }
}

/**
 * Throws unless `issuer` may sign a certificate that has `intermediatesBelow` intermediate CA certificates between
 * it and the leaf (0 when signing the leaf itself).
 */
export function assertMayIssue(issuer: X509Certificate, intermediatesBelow: number): void {
  const { basicConstraints, keyUsage } = certificateFields(issuer);
  if (!basicConstraints?.isCa) {
    const message = `certificate ${certificateLabel(issuer)} is not a CA (no basicConstraints CA:true) and cannot issue certificates`;
    throw new PkiError('ISSUER_NOT_CA', message);
  }
  if (keyUsage && !keyUsage.includes('keyCertSign')) {
    const message = `CA certificate ${certificateLabel(issuer)} may not sign certificates (its keyUsage lacks keyCertSign)`;
    throw new PkiError('ISSUER_NO_KEY_CERT_SIGN', message);
  }
  if (basicConstraints.pathLength !== null && intermediatesBelow > basicConstraints.pathLength) {
    throw new PkiError(
      'PATH_LENGTH_EXCEEDED',
      `CA certificate ${certificateLabel(issuer)} allows ${basicConstraints.pathLength} intermediate CA certificate(s) ` +
        `below it (pathLen), the chain has ${intermediatesBelow}`,
    );
  }
}

/** A CA key signs certificates, not tokens, heads or credentials: a CA certificate is never accepted as the signer. */
function assertMaySign(leaf: X509Certificate): void {
  const { basicConstraints, keyUsage } = certificateFields(leaf);
  if (basicConstraints?.isCa) {
    throw new PkiError('LEAF_IS_CA', `certificate ${certificateLabel(leaf)} is a CA certificate (basicConstraints CA:true), not one that may sign as a participant`);
  }
  if (keyUsage && !keyUsage.includes('digitalSignature')) {
    throw new PkiError('LEAF_NO_DIGITAL_SIGNATURE', `certificate ${certificateLabel(leaf)} may not make signatures (its keyUsage lacks digitalSignature)`);
  }
}

function assertCurrentlyUsable(cert: X509Certificate, at: Date): void {
  const { notBefore, notAfter, extensions } = certificateFields(cert);
  if (at < notBefore) {
    throw new PkiError('CERT_NOT_YET_VALID', `certificate ${certificateLabel(cert)} is not valid before ${notBefore.toISOString()}`);
  }
  if (at > notAfter) throw new PkiError('CERT_EXPIRED', `certificate ${certificateLabel(cert)} expired on ${notAfter.toISOString()}`);
  for (const ext of extensions.values()) {
    if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.oid)) {
      throw new PkiError('CERT_INVALID', `certificate ${certificateLabel(cert)} has an unsupported critical extension ${ext.oid}`);
    }
  }
}

/** Anchors are preferred over chain-supplied certificates, so a path stops at the first trusted CA. */
function findIssuer(cert: X509Certificate, anchors: X509Certificate[], candidates: X509Certificate[]): X509Certificate {
  const { issuer: issuerName, authorityKeyIdentifier } = certificateFields(cert);
  const named = [...anchors, ...candidates].filter((candidate) => {
    const { subject, subjectKeyIdentifier } = certificateFields(candidate);
    // Different key identifiers mean a different key of a same-named CA (e.g. another node's dev CA).
    const keyIdsAgree = !authorityKeyIdentifier || !subjectKeyIdentifier || authorityKeyIdentifier.equals(subjectKeyIdentifier);
    return keyIdsAgree && namesMatch(subject, issuerName);
  });
  if (named.length === 0) {
    const selfIssued = namesMatch(issuerName, certificateFields(cert).subject);
    const reason = selfIssued
      ? 'it is self-signed and not a trust anchor'
      : anchors.length === 0
        ? 'no trust anchors are configured'
        : `its issuer "${formatName(issuerName)}" is neither a trust anchor nor in the chain`;
    throw new PkiError('CERT_UNTRUSTED', `certificate ${certificateLabel(cert)} is not issued by a trusted CA (${reason})`);
  }
  const verified = named.find((candidate) => isSignedBy(cert, candidate));
  if (!verified) {
    throw new PkiError(
      'CERT_BAD_SIGNATURE',
      `the signature of certificate ${certificateLabel(cert)} does not verify ` +
        `with the key of its issuer ${certificateLabel(named[0]!)}`,
    );
  }
  return verified;
}

function isSignedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false; // e.g. an algorithm OpenSSL refuses: not a valid signature either way
  }
}

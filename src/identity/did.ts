import type { KeyObject, X509Certificate } from 'node:crypto';
import type { JWK } from 'jose';
import { joseLib } from '../lazy';
import { jwsAlgorithmFor } from '../pki';

/**
 * did:web for a base URL: host, port percent-encoded as %3A, path segments joined with ':'
 * (https://w3c-ccg.github.io/did-method-web/).
 */
export function didWebFromUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  const host = url.port ? `${url.hostname}%3A${url.port}` : url.hostname;
  const segments = url.pathname.split('/').filter(Boolean).map(encodeURIComponent);
  return ['did:web', host, ...segments].join(':');
}

/** Path under which a did:web document is served: /.well-known/did.json, or /<path>/did.json for path DIDs. */
export function didDocumentPath(did: string): string {
  const segments = did.split(':').slice(3).map(decodeURIComponent);
  return segments.length ? `/${segments.join('/')}/did.json` : '/.well-known/did.json';
}

export const CERTIFICATE_CHAIN_PATH = '/.well-known/x509CertificateChain.pem';

export interface DidDocumentInput {
  did: string;
  publicKey: KeyObject;
  chain: X509Certificate[];
  /** Absolute URL where the PEM chain (leaf first) is served. */
  chainUrl: string;
}

/** The public JWK of the connector key with x5c (offline verifiers) and x5u (Gaia-X verifiers). */
export async function publicJwk(input: Omit<DidDocumentInput, 'did'>): Promise<JWK> {
  const jwk = await joseLib().exportJWK(input.publicKey);
  return {
    ...jwk,
    alg: jwsAlgorithmFor(input.publicKey),
    x5c: input.chain.map((c) => c.raw.toString('base64')),
    x5u: input.chainUrl,
  };
}

/**
 * The DID document: one JsonWebKey2020 verification method, listed under assertionMethod (credential
 * signing) and authentication (peer tokens). The fragment is the RFC 7638 thumbprint of the key, so a
 * re-keyed connector gets a new key id and verifiers never confuse the two.
 */
export async function buildDidDocument(input: DidDocumentInput): Promise<Record<string, unknown>> {
  const jwk = await publicJwk(input);
  const { x5c: _x5c, x5u: _x5u, alg: _alg, ...bare } = jwk;
  const kid = `${input.did}#${await joseLib().calculateJwkThumbprint(bare as JWK)}`;
  return {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/jws-2020/v1'],
    id: input.did,
    verificationMethod: [{ id: kid, type: 'JsonWebKey2020', controller: input.did, publicKeyJwk: jwk }],
    assertionMethod: [kid],
    authentication: [kid],
  };
}

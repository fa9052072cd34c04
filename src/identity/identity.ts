import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { certificateInfo, type CertificateInfo } from '../pki';
import { PkiError } from '../errors';
import { didWebFromUrl } from './did';

/** Who this connector is: its key, certificate chain, participant id and DID. */
export interface ConnectorIdentity {
  participantId: string;
  did: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Leaf first, then intermediates. */
  chain: X509Certificate[];
  leaf: CertificateInfo;
}

/**
 * Build the identity from the key and chain of the certificates directory. The participant id is the leaf certificate's
 * SAN URI: the certificate is the single source of truth, so identity and TLS can never disagree.
 */
export function loadConnectorIdentity(
  { privateKey, chain }: { privateKey: KeyObject; chain: X509Certificate[] },
  publicBaseUrl: string,
): ConnectorIdentity {
  const leaf = certificateInfo(chain[0]!);
  if (!leaf.participantId) {
    throw new PkiError('CERT_INVALID', `connector certificate "${leaf.subject}" has no participant id (SAN URI)`);
  }
  const did = leaf.participantId.startsWith('did:web:') ? leaf.participantId : didWebFromUrl(publicBaseUrl);
  return { participantId: leaf.participantId, did, privateKey, publicKey: createPublicKey(privateKey), chain, leaf };
}

/** Default participant id for a hostname and port: a did:web the connector itself can serve. */
export function defaultParticipantId(hostname: string, port: number): string {
  return didWebFromUrl(port === 443 ? `https://${hostname}` : `https://${hostname}:${port}`);
}

/** Public API of the PKI layer: keys, certificates, CSRs, chain validation, PKCS#12 and the certificates directory. */
export {
  type KeyType,
  generateKeyPair,
  keyTypeOf,
  keyMatchesCertificate,
  privateKeyToPem,
  readPrivateKeyPem,
  jwsAlgorithmFor,
} from './keys';
export {
  type CertificateAuthority,
  type CertificateInfo,
  type CertificateProfile,
  type DistinguishedName,
  type IssueCertificateOptions,
  issueCertificate,
  createCertificateAuthority,
  certificateInfo,
  subjectAttributes,
  certificateToPem,
  readCertificatesPem,
} from './certificate';
export { fingerprintSha256, connectorId, formatConnectorId } from './identifiers';
export { type CsrOptions, type ParsedCsr, createCsr, parseCsr } from './csr';
export { type ChainValidationOptions, type ValidatedChain, validateChain, verifyKeyPair } from './chain';
export { type Pkcs12Contents, type WritePkcs12Options, readPkcs12, writePkcs12 } from './pkcs12';
export { type KeyAndChain, type TrustAnchorEntry, CertStore } from './cert-store';
export { caDirectoryExists, loadCaDirectory, saveCaDirectory } from './ca-directory';

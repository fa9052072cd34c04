import os from 'node:os';
import type { HedgerowConfig } from '../config/schema';
import type { CommandIo } from '../cli/command';
import { Store } from '../store/store';
import {
  CertStore,
  certificateInfo,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  type CertificateAuthority,
  type DistinguishedName,
  type KeyType,
} from '../pki';
import { PkiError } from '../errors';
import { defaultParticipantId } from '../identity/identity';
import { loadCaDirectory } from '../pki/ca-directory';

export interface InitOptions {
  participantId?: string;
  hostnames?: string[];
  keyType?: KeyType;
  organization?: string;
  country?: string;
  /** A CA directory made by `hedgerow ca init`; default: this node's development CA. */
  caDir?: string;
  force?: boolean;
}

export interface InitResult {
  participantId: string;
  hostnames: string[];
  fingerprint: string;
  connectorId: string | null;
  notAfter: Date;
  issuer: string;
  devCaCreated: boolean;
  databaseFile: string;
  /** The management API key, shown once; null when one already existed. */
  apiKey: string | null;
}

/** Issue the connector certificate from `ca` for the given key. */
export function issueConnectorCertificate(
  ca: CertificateAuthority,
  publicKey: import('node:crypto').KeyObject,
  subject: DistinguishedName,
  participantId: string,
  hostnames: string[],
  validityDays: number,
) {
  return issueCertificate({
    subject,
    subjectPublicKey: publicKey,
    issuer: ca,
    profile: 'connector',
    validityDays,
    participantId,
    hostnames,
  });
}

/**
 * First-run setup: data directory and database, connector key and certificate (from the given CA or
 * a development CA created here), trust in that CA, and a management API key printed once.
 */
export function initialiseNode(config: HedgerowConfig, opts: InitOptions): InitResult {
  const certStore = new CertStore(config.certsDir);
  if (certStore.hasIdentity() && !opts.force) {
    throw new PkiError('KEYS_EXIST', `a connector key already exists in ${config.certsDir}: use --force to replace it (the old key is lost)`);
  }
  const hostnames = opts.hostnames?.length ? opts.hostnames : ['localhost'];
  const participantId = opts.participantId ?? defaultParticipantId(hostnames[0]!, config.publicApi.port || 8443);

  let devCaCreated = false;
  let ca: CertificateAuthority;
  if (opts.caDir) ca = loadCaDirectory(opts.caDir);
  else {
    const existing = certStore.loadDevCa();
    if (existing) ca = existing;
    else {
      ca = createCertificateAuthority({
        subject: { commonName: `hedgerow development CA (${os.hostname()})`, organization: 'hedgerow development' },
        keyType: opts.keyType ?? 'ec',
        validityDays: config.pki.caValidityDays,
      });
      certStore.saveDevCa(ca);
      devCaCreated = true;
    }
  }

  const { privateKey, publicKey } = generateKeyPair(opts.keyType ?? 'ec');
  const subject: DistinguishedName = {
    commonName: hostnames[0]!,
    ...(opts.organization ? { organization: opts.organization } : {}),
    ...(opts.country ? { country: opts.country } : {}),
  };
  const leaf = issueConnectorCertificate(ca, publicKey, subject, participantId, hostnames, config.pki.certificateValidityDays);
  // Database first: if it cannot be created (disk full, permissions) no key is written.
  const store = Store.open(config.dataDir, { busyTimeoutMs: config.database.busyTimeoutMs });
  try {
    certStore.addTrustAnchor(ca.certificate);
    certStore.saveIdentity(privateKey, [leaf], { force: opts.force });
    let apiKey: string | null = null;
    store.transaction(() => {
      if (store.apiKeys.list().every((k) => k.revokedAt !== null)) apiKey = store.apiKeys.create('created by hedgerow init').key;
      store.settings.set('initialisedAt', new Date().toISOString());
    });
    const info = certificateInfo(leaf);
    return {
      participantId,
      hostnames,
      fingerprint: info.fingerprintSha256,
      connectorId: info.connectorId,
      notAfter: info.notAfter,
      issuer: info.issuer,
      devCaCreated,
      databaseFile: store.file,
      apiKey,
    };
  } finally {
    store.close();
  }
}

export function printInitResult(r: InitResult, io: CommandIo): void {
  io.out(`initialised hedgerow node ${r.participantId}`);
  io.out(`  hostnames:      ${r.hostnames.join(', ')}`);
  io.out(`  certificate:    ${r.fingerprint} (until ${r.notAfter.toISOString().slice(0, 10)})`);
  io.out(`  issuer:         ${r.issuer}${r.devCaCreated ? ' (development CA created)' : ''}`);
  if (r.connectorId) io.out(`  connector id:   ${r.connectorId}`);
  io.out(`  database:       ${r.databaseFile}`);
  if (r.apiKey) {
    io.out('');
    io.out(`management API key (shown only now, stored as a hash): ${r.apiKey}`);
    io.out('use it as "Authorization: Bearer <key>" or export HEDGEROW_API_KEY=<key> for the CLI');
  }
}

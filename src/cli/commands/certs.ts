import fs from 'node:fs';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { configFrom, defineCommand, intOption, listOption, stringOption, type CommandIo, type Values } from '../command';
import { HedgerowError, PkiError, UsageError } from '../../errors';
import {
  CertStore,
  certificateInfo,
  createCsr,
  generateKeyPair,
  keyMatchesCertificate,
  readCertificatesPem,
  readPkcs12,
  readPrivateKeyPem,
  subjectAttributes,
  validateChain,
  type CertificateAuthority,
} from '../../pki';
import { loadCaDirectory } from '../../pki/ca-directory';
import { issueConnectorCertificate } from '../../setup/initialise';

function readFileOrFail(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new HedgerowError('FILE_UNREADABLE', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function storeFor(values: Values, io: CommandIo) {
  const { config } = configFrom(values, io);
  return { config, certStore: new CertStore(config.certsDir) };
}

export const certsStatusCommand = defineCommand(
  {
    name: 'certs status',
    summary: 'show the connector certificate: identity, validity, fingerprint, IDS connector id, chain',
    options: { json: { type: 'boolean' } },
    async run({ values }, io) {
      const { certStore } = storeFor(values, io);
      const { chain } = certStore.loadIdentity();
      const info = certificateInfo(chain[0]!);
      let chainStatus: string;
      let ok = true;
      try {
        const { anchor } = validateChain(chain, { anchors: certStore.trustAnchors() });
        chainStatus = `valid to trust anchor ${certificateInfo(anchor).subject}`;
      } catch (err) {
        ok = false;
        chainStatus = `INVALID: ${(err as Error).message}`;
      }
      if (values.json) {
        io.out(JSON.stringify({ ...info, chain: chainStatus, chainValid: ok }, null, 2));
        return ok ? 0 : 1;
      }
      io.out(`participant id:  ${info.participantId ?? '(none)'}`);
      io.out(`subject:         ${info.subject}`);
      io.out(`issuer:          ${info.issuer}`);
      io.out(`hostnames:       ${[...info.hostnames, ...info.ipAddresses].join(', ') || '(none)'}`);
      io.out(`key:             ${info.keyType === 'ec' ? 'ECDSA P-256' : 'RSA'}`);
      io.out(`valid:           ${info.notBefore.toISOString()} to ${info.notAfter.toISOString()} (${Math.floor(info.daysToExpiry)} days left)`);
      io.out(`serial:          ${info.serialNumber}`);
      io.out(`SHA-256:         ${info.fingerprintSha256}`);
      io.out(`connector id:    ${info.connectorId ?? '(no SKI/AKI)'}`);
      io.out(`chain:           ${chainStatus}`);
      return ok ? 0 : 1;
    },
  },
  { json: 'print as JSON' },
);

export const certsCsrCommand = defineCommand(
  {
    name: 'certs csr',
    summary: 'write a PKCS#10 certificate signing request for the connector key (for an external dataspace CA)',
    options: { out: { type: 'string' }, hostname: { type: 'string', multiple: true }, 'participant-id': { type: 'string' } },
    async run({ values }, io) {
      const out = stringOption(values, 'out');
      if (!out) throw new UsageError('--out FILE is required');
      const { certStore } = storeFor(values, io);
      const { privateKey, chain } = certStore.loadIdentity();
      const info = certificateInfo(chain[0]!);
      const participantId = stringOption(values, 'participant-id') ?? info.participantId ?? undefined;
      const hostnames = listOption(values, 'hostname').length ? listOption(values, 'hostname') : [...info.hostnames, ...info.ipAddresses];
      const subject = { commonName: hostnames[0] ?? participantId ?? 'hedgerow', ...subjectAttributes(chain[0]!) };
      subject.commonName = hostnames[0] ?? subject.commonName;
      fs.writeFileSync(out, createCsr({ privateKey, subject, participantId, hostnames }), { mode: 0o644 });
      io.out(`wrote ${out} for ${participantId} (${hostnames.join(', ')}); import the signed chain with "hedgerow certs import --chain FILE"`);
      return 0;
    },
  },
  { out: 'where to write the CSR (PEM)', hostname: 'DNS names (repeatable; default: those of the current certificate)', 'participant-id': 'default: the current one' },
);

export const certsImportCommand = defineCommand(
  {
    name: 'certs import',
    summary: 'install a certificate chain (PEM, with the current or a given key) or a PKCS#12 file',
    description:
      'The chain must be valid to a trust anchor (add the root with --trust-anchor or "hedgerow trust add").\n' +
      'The PKCS#12 password is read from --password-file or HEDGEROW_P12_PASSWORD, never from the command line.\n' +
      'A running connector picks up the new certificate without restart.',
    options: {
      chain: { type: 'string' },
      key: { type: 'string' },
      p12: { type: 'string' },
      'password-file': { type: 'string' },
      'trust-anchor': { type: 'string' },
      force: { type: 'boolean' },
    },
    async run({ values }, io) {
      const chainFile = stringOption(values, 'chain');
      const p12File = stringOption(values, 'p12');
      if (!!chainFile === !!p12File) throw new UsageError('give exactly one of --chain FILE or --p12 FILE');
      const { certStore } = storeFor(values, io);
      const current = certStore.hasIdentity() ? certStore.loadIdentity() : null;

      let privateKey: KeyObject;
      let chain: X509Certificate[];
      if (p12File) {
        const pwFile = stringOption(values, 'password-file');
        const password = pwFile ? readFileOrFail(pwFile, 'password file').toString('utf8').replace(/\r?\n$/, '') : io.env.HEDGEROW_P12_PASSWORD;
        if (password === undefined) throw new UsageError('give the PKCS#12 password with --password-file FILE or HEDGEROW_P12_PASSWORD');
        ({ privateKey, chain } = readPkcs12(readFileOrFail(p12File, 'PKCS#12 file'), password));
      } else {
        chain = readCertificatesPem(readFileOrFail(chainFile!, 'certificate chain').toString('utf8'));
        const keyFile = stringOption(values, 'key');
        if (keyFile) privateKey = readPrivateKeyPem(readFileOrFail(keyFile, 'private key').toString('utf8'));
        else if (current) privateKey = current.privateKey;
        else throw new UsageError('no connector key yet: give --key FILE');
      }
      if (!keyMatchesCertificate(privateKey, chain[0]!)) {
        throw new PkiError('KEY_MISMATCH', 'the certificate does not belong to the key (public keys differ)');
      }
      // The --trust-anchor certificates are saved only once the import is accepted (and taken back if saving fails).
      const anchorFile = stringOption(values, 'trust-anchor');
      const known = certStore.trustAnchors();
      const fresh: X509Certificate[] = [];
      for (const c of anchorFile ? readCertificatesPem(readFileOrFail(anchorFile, 'trust anchor').toString('utf8')) : []) {
        if (![...known, ...fresh].some((a) => a.raw.equals(c.raw))) fresh.push(c);
      }
      const anchors = [...known, ...fresh];
      validateChain(chain, { anchors });
      const info = certificateInfo(chain[0]!);
      const sameKey = current ? keyMatchesCertificate(current.privateKey, chain[0]!) : false;
      const previousId = current ? certificateInfo(current.chain[0]!).participantId : null;
      if (current && previousId !== info.participantId && !values.force) {
        throw new PkiError('PARTICIPANT_MISMATCH', `the certificate is for ${info.participantId ?? '(no participant id)'}, this node is ${previousId}: use --force to change identity`);
      }
      if (!info.participantId) throw new PkiError('CERT_INVALID', 'the certificate has no participant id (SAN URI)');
      // Only the leaf+intermediates are the chain we serve; a root included in the file is a trust anchor.
      const served = chain.filter((c, i) => i === 0 || !anchors.some((a) => a.raw.equals(c.raw)));
      const added: string[] = [];
      try {
        for (const c of fresh) added.push(certStore.addTrustAnchor(c));
        certStore.saveIdentity(privateKey, served, { force: sameKey || values.force === true });
      } catch (err) {
        for (const fingerprint of added) certStore.removeTrustAnchor(fingerprint);
        throw err;
      }
      io.out(`installed certificate ${info.fingerprintSha256} for ${info.participantId}, valid until ${info.notAfter.toISOString()}`);
      return 0;
    },
  },
  {
    chain: 'PEM file: leaf first, then intermediates (a trailing root is accepted)',
    key: 'PEM private key file (default: the current connector key)',
    p12: 'PKCS#12 file (.p12/.pfx) with key and chain',
    'password-file': 'file holding the PKCS#12 password',
    'trust-anchor': 'also trust this CA certificate (PEM)',
    force: 'allow replacing the key or changing the participant id',
  },
);

export const certsRenewCommand = defineCommand(
  {
    name: 'certs renew',
    summary: 'issue a fresh certificate for the same participant id and hostnames (from the development CA or --ca)',
    description: 'Keeps the key (and so the IDS connector id) unless --rekey. A running connector picks it up without restart.',
    options: { ca: { type: 'string' }, days: { type: 'string' }, rekey: { type: 'boolean' } },
    async run({ values }, io) {
      const { config, certStore } = storeFor(values, io);
      const current = certStore.loadIdentity();
      const info = certificateInfo(current.chain[0]!);
      const caDir = stringOption(values, 'ca');
      const ca: CertificateAuthority | null = caDir ? loadCaDirectory(caDir) : certStore.loadDevCa();
      if (!ca) {
        throw new HedgerowError('NO_CA', 'this certificate comes from an external CA: run "hedgerow certs csr", have it signed, then "hedgerow certs import"');
      }
      const days = intOption(values, 'days') ?? config.pki.certificateValidityDays;
      const privateKey = values.rekey ? generateKeyPair(info.keyType).privateKey : current.privateKey;
      const leaf = issueConnectorCertificate(
        ca,
        privateKey,
        { ...subjectAttributes(current.chain[0]!), commonName: subjectAttributes(current.chain[0]!).commonName ?? info.hostnames[0] ?? 'hedgerow' },
        info.participantId!,
        [...info.hostnames, ...info.ipAddresses],
        days,
      );
      certStore.addTrustAnchor(ca.certificate);
      certStore.saveIdentity(privateKey, [leaf], { force: true });
      const next = certificateInfo(leaf);
      io.out(`renewed: ${next.fingerprintSha256}, valid until ${next.notAfter.toISOString()}${values.rekey ? ' (new key: the connector id changed)' : ''}`);
      return 0;
    },
  },
  { ca: 'CA directory made by "hedgerow ca init" (default: the development CA)', days: 'validity in days', rekey: 'generate a new key as well' },
);

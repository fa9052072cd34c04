import fs from 'node:fs';
import path from 'node:path';
import { configFrom, defineCommand, intOption, stringOption } from '../command';
import { HedgerowError, UsageError } from '../../errors';
import { certificateInfo, certificateToPem, createCertificateAuthority, parseCsr, type KeyType } from '../../pki';
import { loadCaDirectory, saveCaDirectory } from '../../pki/ca-directory';
import { issueConnectorCertificate } from '../../setup/initialise';

export const caInitCommand = defineCommand(
  {
    name: 'ca init',
    summary: 'create a small dataspace certificate authority (a cooperative federation or a test dataspace)',
    description: 'Writes <dir>/ca.key.pem (0600) and <dir>/ca.crt.pem. Give ca.crt.pem to every member: "hedgerow trust add ca.crt.pem".',
    options: {
      dir: { type: 'string' },
      name: { type: 'string' },
      organization: { type: 'string' },
      country: { type: 'string' },
      'key-type': { type: 'string' },
      days: { type: 'string' },
      force: { type: 'boolean' },
    },
    async run({ values }, io) {
      const dir = stringOption(values, 'dir');
      if (!dir) throw new UsageError('--dir DIR is required');
      const keyType = stringOption(values, 'key-type') ?? 'ec';
      if (keyType !== 'ec' && keyType !== 'rsa') throw new UsageError('--key-type must be ec or rsa');
      const { config } = configFrom(values, io);
      const ca = createCertificateAuthority({
        subject: {
          commonName: stringOption(values, 'name') ?? 'hedgerow dataspace CA',
          ...(stringOption(values, 'organization') ? { organization: stringOption(values, 'organization')! } : {}),
          ...(stringOption(values, 'country') ? { country: stringOption(values, 'country')! } : {}),
        },
        keyType: keyType as KeyType,
        validityDays: intOption(values, 'days') ?? config.pki.caValidityDays,
      });
      saveCaDirectory(dir, ca, { force: values.force === true });
      const info = certificateInfo(ca.certificate);
      io.out(`created CA "${info.subject}" in ${dir}`);
      io.out(`  certificate: ${path.join(dir, 'ca.crt.pem')} (SHA-256 ${info.fingerprintSha256})`);
      return 0;
    },
  },
  {
    dir: 'directory for the CA key and certificate',
    name: 'CA common name',
    organization: 'subject O',
    country: 'subject C',
    'key-type': 'ec (default) or rsa',
    days: 'validity in days',
    force: 'replace an existing CA in that directory',
  },
);

export const caIssueCommand = defineCommand(
  {
    name: 'ca issue',
    summary: "issue a connector certificate from a member's CSR (participant id and hostnames taken from the CSR)",
    options: { dir: { type: 'string' }, csr: { type: 'string' }, out: { type: 'string' }, days: { type: 'string' } },
    async run({ values }, io) {
      const dir = stringOption(values, 'dir');
      const csrFile = stringOption(values, 'csr');
      const out = stringOption(values, 'out');
      if (!dir || !csrFile || !out) throw new UsageError('--dir, --csr and --out are required');
      const { config } = configFrom(values, io);
      const ca = loadCaDirectory(dir);
      let pem: string;
      try {
        pem = fs.readFileSync(csrFile, 'utf8');
      } catch (err) {
        throw new HedgerowError('FILE_UNREADABLE', `cannot read ${csrFile}: ${(err as NodeJS.ErrnoException).code}`);
      }
      const csr = parseCsr(pem);
      if (!csr.participantId) throw new UsageError('the CSR carries no participant id (SAN URI)');
      const leaf = issueConnectorCertificate(ca, csr.publicKey, csr.subject, csr.participantId, csr.hostnames, intOption(values, 'days') ?? config.pki.certificateValidityDays);
      // Leaf then the CA: the member imports it with "hedgerow certs import --chain".
      fs.writeFileSync(out, certificateToPem(leaf) + certificateToPem(ca.certificate), { mode: 0o644 });
      const info = certificateInfo(leaf);
      io.out(`issued ${info.fingerprintSha256} for ${info.participantId} (${[...info.hostnames, ...info.ipAddresses].join(', ')}) until ${info.notAfter.toISOString().slice(0, 10)} -> ${out}`);
      return 0;
    },
  },
  { dir: 'CA directory (from "hedgerow ca init")', csr: 'the PKCS#10 request (PEM)', out: 'where to write leaf + CA certificate (PEM)', days: 'validity in days' },
);

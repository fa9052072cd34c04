import fs from 'node:fs';
import { configFrom, defineCommand } from '../command';
import { CertStore, readCertificatesPem } from '../../pki';
import { HedgerowError } from '../../errors';

const certStoreFor = (values: Parameters<typeof configFrom>[0], io: Parameters<typeof configFrom>[1]) => new CertStore(configFrom(values, io).config.certsDir);

export const trustAddCommand = defineCommand({
  name: 'trust add',
  summary: 'trust a dataspace CA certificate (PEM) as an anchor for peers and for our own chain',
  args: '<file>',
  positionals: [1, 1],
  async run({ values, positionals }, io) {
    let pem: string;
    try {
      pem = fs.readFileSync(positionals[0]!, 'utf8');
    } catch (err) {
      throw new HedgerowError('FILE_UNREADABLE', `cannot read ${positionals[0]}: ${(err as NodeJS.ErrnoException).code}`);
    }
    const store = certStoreFor(values, io);
    for (const cert of readCertificatesPem(pem)) io.out(`trusted ${store.addTrustAnchor(cert)} ${cert.subject.replace(/\n/g, ', ')}`);
    return 0;
  },
});

export const trustListCommand = defineCommand(
  {
    name: 'trust list',
    summary: 'list trust anchors',
    options: { json: { type: 'boolean' } },
    async run({ values }, io) {
      const anchors = certStoreFor(values, io).listTrustAnchors();
      if (values.json) io.out(JSON.stringify(anchors, null, 2));
      else if (!anchors.length) io.out('no trust anchors');
      else for (const a of anchors) io.out(`${a.fingerprint}  ${a.subject}  (until ${a.notAfter.toISOString().slice(0, 10)})`);
      return 0;
    },
  },
  { json: 'print as JSON' },
);

export const trustRemoveCommand = defineCommand({
  name: 'trust remove',
  summary: 'stop trusting an anchor, by SHA-256 fingerprint (or a unique prefix)',
  args: '<fingerprint>',
  positionals: [1, 1],
  async run({ values, positionals }, io) {
    io.out(`removed ${certStoreFor(values, io).removeTrustAnchor(positionals[0]!)}`);
    return 0;
  },
});

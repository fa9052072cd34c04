import { configFrom, defineCommand, listOption, stringOption } from '../command';
import { UsageError } from '../../errors';
import { initialiseNode, printInitResult } from '../../setup/initialise';
import type { KeyType } from '../../pki';

export const initCommand = defineCommand(
  {
    name: 'init',
    summary: 'first-run setup: database, connector key and certificate, management API key',
    description:
      'Without --ca, a development CA is created under the certificates directory (or reused) and trusted,\n' +
      'so that "hedgerow start" works at once. The management API key is printed once and stored only as a hash.',
    options: {
      'participant-id': { type: 'string' },
      hostname: { type: 'string', multiple: true },
      'key-type': { type: 'string' },
      organization: { type: 'string' },
      country: { type: 'string' },
      ca: { type: 'string' },
      force: { type: 'boolean' },
    },
    async run({ values }, io) {
      const keyType = stringOption(values, 'key-type') ?? 'ec';
      if (keyType !== 'ec' && keyType !== 'rsa') throw new UsageError('--key-type must be ec or rsa');
      const country = stringOption(values, 'country');
      if (country !== undefined && !/^[A-Z]{2}$/.test(country)) throw new UsageError('--country must be an ISO 3166-1 alpha-2 code such as FR');
      const { config } = configFrom(values, io);
      const result = initialiseNode(config, {
        participantId: stringOption(values, 'participant-id'),
        hostnames: listOption(values, 'hostname'),
        keyType: keyType as KeyType,
        organization: stringOption(values, 'organization'),
        country,
        caDir: stringOption(values, 'ca'),
        force: values.force === true,
      });
      printInitResult(result, io);
      return 0;
    },
  },
  {
    'participant-id': 'participant id (SAN URI), default did:web:<hostname>%3A<port>',
    hostname: 'DNS name or IP of this node (repeatable; default localhost)',
    'key-type': 'ec (ECDSA P-256, default) or rsa (RSA 3072)',
    organization: 'certificate subject O (used by policies on organisation)',
    country: 'certificate subject C, ISO 3166-1 alpha-2 (used by policies on country)',
    ca: 'issue from the CA in this directory (made by "hedgerow ca init") instead of a development CA',
    force: 'replace an existing connector key',
  },
);

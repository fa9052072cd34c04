import { configFrom, defineCommand, stringOption } from '../command';
import { Store } from '../../store/store';
import { NotFoundError } from '../../errors';

function withStore<T>(values: Parameters<typeof configFrom>[0], io: Parameters<typeof configFrom>[1], fn: (s: Store) => T): T {
  const { config } = configFrom(values, io);
  const store = Store.open(config.dataDir, { busyTimeoutMs: config.database.busyTimeoutMs });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

export const apikeyCreateCommand = defineCommand(
  {
    name: 'apikey create',
    summary: 'create a management API key (printed once, stored as a hash)',
    options: { label: { type: 'string' } },
    async run({ values }, io) {
      const { id, key } = withStore(values, io, (s) => s.apiKeys.create(stringOption(values, 'label') ?? 'created by hedgerow apikey'));
      io.out(`key id ${id}`);
      io.out(key);
      return 0;
    },
  },
  { label: 'what the key is for' },
);

export const apikeyListCommand = defineCommand({
  name: 'apikey list',
  summary: 'list management API keys (ids and labels; keys themselves are not stored)',
  async run({ values }, io) {
    for (const k of withStore(values, io, (s) => s.apiKeys.list())) io.out(`${k.id}  ${k.revokedAt ? 'revoked' : 'active '}  ${k.createdAt}  ${k.label}`);
    return 0;
  },
});

export const apikeyRevokeCommand = defineCommand({
  name: 'apikey revoke',
  summary: 'revoke a management API key by id',
  args: '<id>',
  positionals: [1, 1],
  async run({ values, positionals }, io) {
    if (!withStore(values, io, (s) => s.apiKeys.revoke(positionals[0]!))) throw new NotFoundError(`no active API key ${positionals[0]}`);
    io.out(`revoked ${positionals[0]}`);
    return 0;
  },
});

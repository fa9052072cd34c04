import { configFrom, defineCommand, stringOption } from '../command';
import { UsageError } from '../../errors';
import { createBackup, describeSize } from '../../ops/backup';
import { readBackupPassphrase } from '../../ops/passphrase';

export const backupCommand = defineCommand(
  {
    name: 'backup',
    summary: 'write one archive with a consistent copy of the database, the configuration file and the certificates',
    description:
      'Safe while the connector runs (SQLite online backup). The archive (a .tar.gz, mode 0600) holds a manifest\n' +
      'with versions and the SHA-256 of every member. With a passphrase (--passphrase-file or\n' +
      'HEDGEROW_BACKUP_PASSPHRASE) the private keys inside are encrypted (AES-256-GCM, scrypt); without one they\n' +
      'are stored in clear. Restore with "hedgerow restore FILE".',
    options: { out: { type: 'string' }, 'passphrase-file': { type: 'string' } },
    async run({ values }, io) {
      const out = stringOption(values, 'out');
      if (!out) throw new UsageError('--out FILE is required');
      const { config, file } = configFrom(values, io);
      const passphrase = readBackupPassphrase(stringOption(values, 'passphrase-file'), io.env);
      const result = await createBackup({ config, configFile: file, out, passphrase });
      if (result.clearKeys.length) {
        io.err(`hedgerow: warning: private keys stored in clear in the backup (${result.clearKeys.join(', ')}): keep ${result.out} as secret as the keys, or give a passphrase`);
      }
      const { manifest } = result;
      if (!manifest.members.some((m) => m.role === 'private-key')) {
        io.err(`hedgerow: warning: no connector key in ${config.certsDir}: the backup holds the database${file ? ' and configuration' : ''} only`);
      }
      io.out(`wrote ${result.out} (${describeSize(result.bytes)}, mode 0600)`);
      io.out(`  node:           ${manifest.participantId ?? '(no certificate)'}`);
      io.out(`  schema version: ${manifest.schemaVersion}, hedgerow ${manifest.hedgerowVersion}`);
      io.out(`  members:        ${manifest.members.length} (${manifest.members.map((m) => m.role).filter((r, i, all) => all.indexOf(r) === i).join(', ')})`);
      io.out(`  private keys:   ${manifest.encryption ? 'encrypted (AES-256-GCM, scrypt)' : 'in clear'}`);
      return 0;
    },
  },
  {
    out: 'archive to write (replaced atomically if it exists)',
    'passphrase-file': 'file holding the passphrase that encrypts the private keys (else HEDGEROW_BACKUP_PASSPHRASE)',
  },
);

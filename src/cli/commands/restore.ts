import { configFrom, defineCommand, stringOption } from '../command';
import { restoreBackup } from '../../ops/restore';
import { readBackupPassphrase } from '../../ops/passphrase';
import { LATEST_SCHEMA_VERSION } from '../../store/database';

export const restoreCommand = defineCommand(
  {
    name: 'restore',
    summary: 'restore a backup: verify everything first, then replace the database, certificates and configuration',
    args: '<file>',
    positionals: [1, 1],
    description:
      'Checks the manifest, the SHA-256 of every member, the key passphrase, the database (integrity_check and\n' +
      'schema version) and that no connector uses the data directory, BEFORE replacing anything. Refuses a backup\n' +
      'newer than this hedgerow, and a database in place newer than the backup unless --force. The replaced\n' +
      'database is kept as hedgerow.db.before-restore. The configuration file is written only to the file given\n' +
      'with --config (or HEDGEROW_CONFIG). Run it as the service user (sudo -u hedgerow hedgerow restore ...).',
    options: { force: { type: 'boolean' }, check: { type: 'boolean' }, 'passphrase-file': { type: 'string' } },
    async run({ values, positionals }, io) {
      const { config, file } = configFrom(values, io);
      const passphrase = readBackupPassphrase(stringOption(values, 'passphrase-file'), io.env);
      const checkOnly = values.check === true;
      const r = await restoreBackup({ config, configFile: file, archive: positionals[0]!, passphrase, force: values.force === true, checkOnly });
      const m = r.manifest;
      io.out(`${checkOnly ? 'verified' : 'restored'} backup of ${m.participantId ?? '(no certificate)'} taken ${m.createdAt} by hedgerow ${m.hedgerowVersion}`);
      io.out(`  database:       schema version ${m.schemaVersion}${r.currentSchemaVersion !== null ? ` (in place: ${r.currentSchemaVersion})` : ''}` +
        `${checkOnly ? '' : r.previousDatabase ? `, previous one kept as ${r.previousDatabase}` : ''}`);
      io.out(`  certificates:   ${r.certificatesWritten.length} file(s)${r.certificatesRemoved.length ? `, ${checkOnly ? 'would remove' : 'removed'} ${r.certificatesRemoved.join(', ')}` : ''}`);
      io.out(`  configuration:  ${checkOnly && r.config === 'restored' ? 'would be restored' : r.config}`);
      for (const w of r.warnings) io.err(`hedgerow: warning: ${w}`);
      if (m.schemaVersion < LATEST_SCHEMA_VERSION) io.out(`note: schema ${m.schemaVersion} is older than this hedgerow's ${LATEST_SCHEMA_VERSION}: "hedgerow start" (or "hedgerow migrate") migrates it`);
      return 0;
    },
  },
  {
    force: "replace a database whose schema version is newer than the backup's",
    check: 'verify the archive and show what would be replaced, change nothing',
    'passphrase-file': 'file holding the passphrase of encrypted keys (else HEDGEROW_BACKUP_PASSPHRASE)',
  },
);

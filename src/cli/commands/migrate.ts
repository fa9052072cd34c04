import { configFrom, defineCommand } from '../command';
import { LATEST_SCHEMA_VERSION, openDatabase, pendingMigrations, schemaVersion } from '../../store/database';
import { Store } from '../../store/store';
import { assertNotInUse, openWithoutMigrating } from '../../ops/database-file';

export const migrateCommand = defineCommand(
  {
    name: 'migrate',
    summary: 'apply pending database schema migrations (or list them with --status)',
    description:
      'Migrations are forward-only and also run automatically when the connector starts; all pending ones are\n' +
      'applied in one transaction (all or none). Take a backup first ("hedgerow backup"): there is no way back\n' +
      'but restoring it. The connector must be stopped.',
    options: { status: { type: 'boolean' } },
    async run({ values }, io) {
      const { config } = configFrom(values, io);
      const file = Store.databaseFile(config.dataDir);
      const db = openWithoutMigrating(file, { busyTimeoutMs: config.database.busyTimeoutMs });
      try {
        const pending = pendingMigrations(db); // refuses a database newer than this hedgerow
        const current = schemaVersion(db);
        if (values.status) {
          io.out(`database ${file}: schema version ${current}, this hedgerow's latest is ${LATEST_SCHEMA_VERSION}`);
          io.out(pending.length ? `${pending.length} pending migration${pending.length > 1 ? 's' : ''}:` : 'no pending migrations');
          for (const m of pending) io.out(`  ${m.version}  ${m.name}`);
          return 0;
        }
        if (!pending.length) {
          io.out(`database ${file} is at schema version ${current}: nothing to migrate`);
          return 0;
        }
        db.close();
        assertNotInUse(file, 'migrate');
        // The connector's own open: same journal and synchronous settings, and it applies the pending migrations.
        openDatabase(file, { busyTimeoutMs: config.database.busyTimeoutMs }).close();
        for (const m of pending) io.out(`applied ${m.version}  ${m.name}`);
        io.out(`database ${file}: schema version ${current} -> ${pending[pending.length - 1]!.version}`);
        return 0;
      } finally {
        if (db.open) db.close();
      }
    },
  },
  { status: 'list pending migrations (number and name) and change nothing' },
);

import fs from 'node:fs';
import { HedgerowError, UsageError } from '../errors';

/**
 * The backup passphrase from --passphrase-file or HEDGEROW_BACKUP_PASSPHRASE; never from the command line, where
 * other users could read it in the process list. One trailing newline (from `echo` or an editor) is dropped.
 */
export function readBackupPassphrase(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let passphrase: string | undefined;
  if (file !== undefined) {
    try {
      passphrase = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new HedgerowError('FILE_UNREADABLE', `cannot read the passphrase file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else {
    passphrase = env.HEDGEROW_BACKUP_PASSPHRASE;
  }
  if (passphrase === '') throw new UsageError('the backup passphrase is empty');
  return passphrase;
}

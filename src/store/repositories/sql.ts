import type { Statement } from 'better-sqlite3';
import type { Sqlite } from '../database';

const statementCaches = new WeakMap<Sqlite, Map<string, Statement>>();

/**
 * The statement for `sql` on this connection, prepared on first use and reused after. Lazy, so that a Store opened
 * on an older schema (read-only tools) does not fail over tables it never touches; cached, because preparing costs
 * more than running a small statement. Callers pass a bounded set of SQL texts (no values in them).
 */
export function prepared<P extends unknown[] | object = unknown[], R = unknown>(db: Sqlite, sql: string): Statement<P, R> {
  let cache = statementCaches.get(db);
  if (!cache) statementCaches.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s as unknown as Statement<P, R>;
}

/**
 * The two statements every process table (negotiations, transfers) and the agreements need in a
 * dynamic form: an UPDATE of the given fields, and a filtered, newest-first SELECT.
 */

/** UPDATE `table` SET the defined fields of `patch` (JSON-encoding `jsonFields`), plus updated_at. */
export function updateFields<P extends object>(db: Sqlite, table: string, columns: Record<keyof P, string>, id: string, patch: P, jsonFields: ReadonlyArray<keyof P> = []): void {
  const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as Array<[keyof P & string, unknown]>;
  const sets = entries.map(([k]) => `${columns[k]} = @${k}`);
  const params: Record<string, unknown> = { id, updatedAt: new Date().toISOString() };
  for (const [k, v] of entries) params[k] = jsonFields.includes(k) && v !== null ? JSON.stringify(v) : v;
  prepared(db, `UPDATE ${table} SET ${[...sets, 'updated_at = @updatedAt'].join(', ')} WHERE id = @id`).run(params);
}

/** SELECT * with `column = value` for each defined filter (plus raw conditions), newest first, at most 500. */
export function selectNewest<R>(
  db: Sqlite,
  table: string,
  filters: Record<string, unknown>,
  opts: { limit?: number; orderBy: string; extra?: Array<{ sql: string; params: Record<string, unknown> }> },
): R[] {
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: Math.min(opts.limit ?? 50, 500) };
  Object.entries(filters)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .forEach(([column, value], i) => {
      where.push(`${column} = @f${i}`);
      params[`f${i}`] = value;
    });
  for (const e of opts.extra ?? []) {
    where.push(e.sql);
    Object.assign(params, e.params);
  }
  const sql = `SELECT * FROM ${table} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${opts.orderBy} LIMIT @limit`;
  return prepared<[Record<string, unknown>], R>(db, sql).all(params);
}

/**
 * Where a pass over many rows in batches stands: the sort key (a timestamp) and id of the last row handed out.
 * The next batch starts strictly after it, so a pass always moves on, also past rows it could not process.
 */
export interface BatchCursor {
  at: string;
  id: string;
}

/** Parameters binding an optional cursor to `@afterAt`, `@afterId` (a condition `@afterAt IS NULL OR (key, id) > (@afterAt, @afterId)`). */
export const afterParams = (after: BatchCursor | undefined) => ({ afterAt: after?.at ?? null, afterId: after?.id ?? null });

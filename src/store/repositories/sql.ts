import type { Sqlite } from '../database';

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
  db.prepare(`UPDATE ${table} SET ${[...sets, 'updated_at = @updatedAt'].join(', ')} WHERE id = @id`).run(params);
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
  return db.prepare(sql).all(params) as R[];
}

import type { Sqlite } from '../database';
import { prepared } from './sql';

/** Where an asset's bytes live. Backend credentials stay in the store; they are never exposed by the API. */
export type AssetSource =
  | { type: 'file'; path: string }
  | { type: 'http'; url: string; headers?: Record<string, string> };

export interface Asset {
  id: string;
  title: string | null;
  description: string | null;
  keywords: string[];
  contentType: string | null;
  /** The data subject or member farm the data comes from (consent is checked against it). */
  originator: string | null;
  /** Data category, e.g. `parcel-yields`: a consent limited to a category covers only assets of that category. */
  category: string | null;
  source: AssetSource;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  title: string | null;
  description: string | null;
  keywords: string;
  content_type: string | null;
  originator: string | null;
  category: string | null;
  source: string;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): Asset => ({
  id: r.id,
  title: r.title,
  description: r.description,
  keywords: JSON.parse(r.keywords) as string[],
  contentType: r.content_type,
  originator: r.originator,
  category: r.category,
  source: JSON.parse(r.source) as AssetSource,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Statements are prepared on first use, so a Store opened on an older schema (upgrade tests, read-only tools) works. */
export class AssetRepository {
  constructor(private readonly db: Sqlite) {}

  insert(asset: Omit<Asset, 'createdAt' | 'updatedAt' | 'category'> & { category?: string | null }): Asset {
    const now = new Date().toISOString();
    const full: Asset = { ...asset, category: asset.category ?? null, createdAt: now, updatedAt: now };
    prepared(
      this.db,
      `INSERT INTO assets (id, title, description, keywords, content_type, originator, category, source, created_at, updated_at)
       VALUES (@id, @title, @description, @keywords, @contentType, @originator, @category, @source, @createdAt, @updatedAt)`,
    ).run({ ...full, keywords: JSON.stringify(full.keywords), source: JSON.stringify(full.source) });
    return full;
  }

  get(id: string): Asset | undefined {
    const row = prepared<[string], Row>(this.db, 'SELECT * FROM assets WHERE id = ?').get(id);
    return row ? fromRow(row) : undefined;
  }

  /** Keyset pagination by id: stable and O(page) however many assets there are. */
  page(after: string, limit: number): Asset[] {
    return prepared<[string, number], Row>(this.db, 'SELECT * FROM assets WHERE id > ? ORDER BY id LIMIT ?').all(after, limit).map(fromRow);
  }

  /** The page before `before`, newest id first (callers reverse it). */
  pageBefore(before: string, limit: number): Asset[] {
    return prepared<[string, number], Row>(this.db, 'SELECT * FROM assets WHERE id < ? ORDER BY id DESC LIMIT ?').all(before, limit).map(fromRow);
  }

  count(): number {
    return prepared<[], { n: number }>(this.db, 'SELECT count(*) AS n FROM assets').get()!.n;
  }

  delete(id: string): boolean {
    return prepared(this.db, 'DELETE FROM assets WHERE id = ?').run(id).changes === 1;
  }
}

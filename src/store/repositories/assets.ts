import type { Sqlite } from '../database';

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
  source: JSON.parse(r.source) as AssetSource,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class AssetRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly pageStmt;
  private readonly pageBeforeStmt;
  private readonly countStmt;
  private readonly deleteStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare(
      `INSERT INTO assets (id, title, description, keywords, content_type, originator, source, created_at, updated_at)
       VALUES (@id, @title, @description, @keywords, @contentType, @originator, @source, @createdAt, @updatedAt)`,
    );
    this.getStmt = db.prepare<[string], Row>('SELECT * FROM assets WHERE id = ?');
    this.pageStmt = db.prepare<[string, number], Row>('SELECT * FROM assets WHERE id > ? ORDER BY id LIMIT ?');
    this.pageBeforeStmt = db.prepare<[string, number], Row>('SELECT * FROM assets WHERE id < ? ORDER BY id DESC LIMIT ?');
    this.countStmt = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM assets');
    this.deleteStmt = db.prepare('DELETE FROM assets WHERE id = ?');
  }

  insert(asset: Omit<Asset, 'createdAt' | 'updatedAt'>): Asset {
    const now = new Date().toISOString();
    const full: Asset = { ...asset, createdAt: now, updatedAt: now };
    this.insertStmt.run({ ...full, keywords: JSON.stringify(full.keywords), source: JSON.stringify(full.source) });
    return full;
  }

  get(id: string): Asset | undefined {
    const row = this.getStmt.get(id);
    return row ? fromRow(row) : undefined;
  }

  /** Keyset pagination by id: stable and O(page) however many assets there are. */
  page(after: string, limit: number): Asset[] {
    return this.pageStmt.all(after, limit).map(fromRow);
  }

  /** The page before `before`, newest id first (callers reverse it). */
  pageBefore(before: string, limit: number): Asset[] {
    return this.pageBeforeStmt.all(before, limit).map(fromRow);
  }

  count(): number {
    return this.countStmt.get()!.n;
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes === 1;
  }
}

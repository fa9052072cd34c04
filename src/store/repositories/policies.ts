import type { Sqlite } from '../database';
import type { OdrlPolicy } from '../../policy';

export interface PolicyDefinition {
  id: string;
  title: string | null;
  policy: OdrlPolicy;
  createdAt: string;
}

interface Row {
  id: string;
  title: string | null;
  policy: string;
  created_at: string;
}

const fromRow = (r: Row): PolicyDefinition => ({ id: r.id, title: r.title, policy: JSON.parse(r.policy) as OdrlPolicy, createdAt: r.created_at });

export class PolicyRepository {
  private readonly insertStmt;
  private readonly getStmt;
  private readonly listStmt;
  private readonly deleteStmt;

  constructor(db: Sqlite) {
    this.insertStmt = db.prepare('INSERT INTO policies (id, title, policy, created_at) VALUES (?, ?, ?, ?)');
    this.getStmt = db.prepare<[string], Row>('SELECT * FROM policies WHERE id = ?');
    this.listStmt = db.prepare<[string, number], Row>('SELECT * FROM policies WHERE id > ? ORDER BY id LIMIT ?');
    this.deleteStmt = db.prepare('DELETE FROM policies WHERE id = ?');
  }

  insert(def: Omit<PolicyDefinition, 'createdAt'>): PolicyDefinition {
    const createdAt = new Date().toISOString();
    this.insertStmt.run(def.id, def.title, JSON.stringify(def.policy), createdAt);
    return { ...def, createdAt };
  }

  get(id: string): PolicyDefinition | undefined {
    const row = this.getStmt.get(id);
    return row ? fromRow(row) : undefined;
  }

  list(after = '', limit = 100): PolicyDefinition[] {
    return this.listStmt.all(after, limit).map(fromRow);
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes === 1;
  }
}

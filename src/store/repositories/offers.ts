import type { Sqlite } from '../database';

/** A contract definition: which assets are offered, under which access and contract policies. */
export interface OfferDefinition {
  id: string;
  accessPolicyId: string;
  contractPolicyId: string;
  assetIds: string[];
  createdAt: string;
}

interface Row {
  id: string;
  access_policy_id: string;
  contract_policy_id: string;
  created_at: string;
  asset_ids: string | null;
}

const fromRow = (r: Row): OfferDefinition => ({
  id: r.id,
  accessPolicyId: r.access_policy_id,
  contractPolicyId: r.contract_policy_id,
  assetIds: r.asset_ids ? (JSON.parse(r.asset_ids) as string[]) : [],
  createdAt: r.created_at,
});

const SELECT = `SELECT o.*, (SELECT json_group_array(asset_id) FROM offer_assets WHERE offer_id = o.id) AS asset_ids FROM offers o`;

export class OfferRepository {
  private readonly insertStmt;
  private readonly linkStmt;
  private readonly getStmt;
  private readonly listStmt;
  private readonly forAssetStmt;
  private readonly deleteStmt;

  constructor(private readonly db: Sqlite) {
    this.insertStmt = db.prepare('INSERT INTO offers (id, access_policy_id, contract_policy_id, created_at) VALUES (?, ?, ?, ?)');
    this.linkStmt = db.prepare('INSERT INTO offer_assets (offer_id, asset_id) VALUES (?, ?)');
    this.getStmt = db.prepare<[string], Row>(`${SELECT} WHERE o.id = ?`);
    this.listStmt = db.prepare<[string, number], Row>(`${SELECT} WHERE o.id > ? ORDER BY o.id LIMIT ?`);
    this.forAssetStmt = db.prepare<[string], Row>(
      `${SELECT} WHERE o.id IN (SELECT offer_id FROM offer_assets WHERE asset_id = ?) ORDER BY o.id`,
    );
    this.deleteStmt = db.prepare('DELETE FROM offers WHERE id = ?');
  }

  insert(def: Omit<OfferDefinition, 'createdAt'>): OfferDefinition {
    const createdAt = new Date().toISOString();
    this.db.transaction(() => {
      this.insertStmt.run(def.id, def.accessPolicyId, def.contractPolicyId, createdAt);
      for (const assetId of new Set(def.assetIds)) this.linkStmt.run(def.id, assetId);
    })();
    return { ...def, assetIds: [...new Set(def.assetIds)], createdAt };
  }

  get(id: string): OfferDefinition | undefined {
    const row = this.getStmt.get(id);
    return row ? fromRow(row) : undefined;
  }

  list(after = '', limit = 100): OfferDefinition[] {
    return this.listStmt.all(after, limit).map(fromRow);
  }

  /** Offer definitions covering an asset (indexed: catalog building stays O(assets on the page)). */
  forAsset(assetId: string): OfferDefinition[] {
    return this.forAssetStmt.all(assetId).map(fromRow);
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes === 1;
  }
}

import type { Sqlite } from '../database';

/** A contract definition: which assets are offered, under which access and contract policies. */
export interface OfferDefinition {
  id: string;
  accessPolicyId: string;
  contractPolicyId: string;
  /** Sorted by id. */
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

/** An offer definition without its asset list (which may hold thousands of ids). */
export type OfferTerms = Omit<OfferDefinition, 'assetIds'>;

const SELECT = `SELECT o.*, (SELECT json_group_array(asset_id) FROM (SELECT asset_id FROM offer_assets WHERE offer_id = o.id ORDER BY asset_id)) AS asset_ids FROM offers o`;

export class OfferRepository {
  private readonly insertStmt;
  private readonly linkStmt;
  private readonly getStmt;
  private readonly listStmt;
  private readonly forAssetStmt;
  private readonly deleteStmt;
  private readonly usingPolicyStmt;

  constructor(private readonly db: Sqlite) {
    this.insertStmt = db.prepare('INSERT INTO offers (id, access_policy_id, contract_policy_id, created_at) VALUES (?, ?, ?, ?)');
    this.linkStmt = db.prepare('INSERT INTO offer_assets (offer_id, asset_id) VALUES (?, ?)');
    this.getStmt = db.prepare<[string], Row>(`${SELECT} WHERE o.id = ?`);
    this.listStmt = db.prepare<[string, number], Row>(`${SELECT} WHERE o.id > ? ORDER BY o.id LIMIT ?`);
    this.forAssetStmt = db.prepare<[string], Omit<Row, 'asset_ids'>>(
      'SELECT o.* FROM offers o JOIN offer_assets oa ON oa.offer_id = o.id WHERE oa.asset_id = ? ORDER BY o.id',
    );
    this.deleteStmt = db.prepare('DELETE FROM offers WHERE id = ?');
    this.usingPolicyStmt = db.prepare<[string, string], { id: string }>('SELECT id FROM offers WHERE access_policy_id = ? OR contract_policy_id = ? LIMIT 1');
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

  /** Offer terms covering an asset (indexed: catalog building stays O(assets on the page)). */
  forAsset(assetId: string): OfferTerms[] {
    return this.forAssetStmt.all(assetId).map((r) => ({ id: r.id, accessPolicyId: r.access_policy_id, contractPolicyId: r.contract_policy_id, createdAt: r.created_at }));
  }

  /** Whether any offer uses the policy (as access or contract policy). */
  usingPolicy(policyId: string): boolean {
    return this.usingPolicyStmt.get(policyId, policyId) !== undefined;
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes === 1;
  }
}

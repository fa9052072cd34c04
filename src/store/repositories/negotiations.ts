import type { Sqlite } from '../database';
import { ProcessTable } from './process-table';
import { LIVE_NEGOTIATION_STATES, type NegotiationState } from '../../statemachine/negotiation';

export type Role = 'provider' | 'consumer';

export interface Negotiation {
  id: string;
  role: Role;
  providerPid: string | null;
  consumerPid: string | null;
  counterpartyId: string;
  counterpartyAddress: string | null;
  /** Verified attributes of the counterparty (certificate organization and country), for policies. */
  counterpartyClaims: Record<string, string>;
  state: NegotiationState;
  nextAction: string | null;
  assetId: string | null;
  offerId: string | null;
  offer: Record<string, unknown> | null;
  agreementId: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  role: Role;
  provider_pid: string | null;
  consumer_pid: string | null;
  counterparty_id: string;
  counterparty_address: string | null;
  counterparty_claims: string;
  state: NegotiationState;
  next_action: string | null;
  asset_id: string | null;
  offer_id: string | null;
  offer: string | null;
  agreement_id: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): Negotiation => ({
  id: r.id,
  role: r.role,
  providerPid: r.provider_pid,
  consumerPid: r.consumer_pid,
  counterpartyId: r.counterparty_id,
  counterpartyAddress: r.counterparty_address,
  counterpartyClaims: JSON.parse(r.counterparty_claims) as Record<string, string>,
  state: r.state,
  nextAction: r.next_action,
  assetId: r.asset_id,
  offerId: r.offer_id,
  offer: r.offer ? (JSON.parse(r.offer) as Record<string, unknown>) : null,
  agreementId: r.agreement_id,
  error: r.error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface NegotiationFilter {
  role?: Role;
  state?: NegotiationState;
  counterpartyId?: string;
  assetId?: string;
  limit?: number;
  /** Return only negotiations created before this id's creation (paging, newest first). */
  before?: string;
}

/** Fields a transition may change. */
export type NegotiationPatch = Partial<
  Pick<Negotiation, 'state' | 'nextAction' | 'providerPid' | 'consumerPid' | 'offer' | 'offerId' | 'assetId' | 'agreementId' | 'error' | 'counterpartyAddress'>
>;

const COLUMN: Record<keyof NegotiationPatch, string> = {
  state: 'state',
  nextAction: 'next_action',
  providerPid: 'provider_pid',
  consumerPid: 'consumer_pid',
  offer: 'offer',
  offerId: 'offer_id',
  assetId: 'asset_id',
  agreementId: 'agreement_id',
  error: 'error',
  counterpartyAddress: 'counterparty_address',
};

export class NegotiationRepository extends ProcessTable<Row, Negotiation, NegotiationPatch> {
  private readonly insertStmt;
  constructor(db: Sqlite) {
    super(db, 'negotiations', COLUMN, ['offer'], fromRow, LIVE_NEGOTIATION_STATES);
    this.insertStmt = db.prepare(
      `INSERT INTO negotiations (id, role, provider_pid, consumer_pid, counterparty_id, counterparty_address, counterparty_claims,
         state, next_action, asset_id, offer_id, offer, agreement_id, error, created_at, updated_at)
       VALUES (@id, @role, @providerPid, @consumerPid, @counterpartyId, @counterpartyAddress, @claims, @state, @nextAction,
         @assetId, @offerId, @offer, @agreementId, @error, @createdAt, @updatedAt)`,
    );
  }

  insert(n: Omit<Negotiation, 'createdAt' | 'updatedAt'>): Negotiation {
    const now = new Date().toISOString();
    const full: Negotiation = { ...n, createdAt: now, updatedAt: now };
    this.insertStmt.run({ ...full, claims: JSON.stringify(full.counterpartyClaims), offer: full.offer ? JSON.stringify(full.offer) : null });
    return full;
  }






  list(filter: NegotiationFilter = {}): Negotiation[] {
    const extra = filter.before ? [{ sql: '(created_at, id) < (SELECT created_at, id FROM negotiations WHERE id = @before)', params: { before: filter.before } }] : [];
    return this.newest({ role: filter.role, state: filter.state, counterparty_id: filter.counterpartyId, asset_id: filter.assetId }, filter.limit, extra);
  }
}

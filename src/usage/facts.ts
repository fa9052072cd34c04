import type { Store } from '../store/store';
import type { AgreementRecord } from '../store/repositories/agreements';
import type { ConsentCheck, PolicyFacts } from '../policy';
import { declaredPurpose } from './purpose';

type Json = Record<string, unknown>;

export interface FactSources {
  store: Store;
  /** Named groups a participant belongs to (membership constraints). */
  groupsOf: (participantId: string) => string[];
  /** The consent check for data of `originator` going to `beneficiary`. */
  /** `category`: the asset's data category, asked for when the policy's consent requirement names none. */
  consentCheck: (beneficiary: string, originator: string | null, category: string | null) => ConsentCheck;
}

/**
 * The one place where policy facts are established, each from something verified: the peer's
 * certificate (participant id, organization, country, recorded at negotiation), the local group
 * lists, the purpose bound in the request or agreement, the consent registry, the agreement's
 * timestamp and the provider's own usage counter. Never from an unverified field of a message.
 */
export class FactProvider {
  constructor(private readonly sources: FactSources) {}

  /** Who the participant is: certificate attributes and group memberships. */
  identity(participantId: string, claims: Record<string, string>, now = new Date()): PolicyFacts {
    return {
      now,
      participantId,
      ...(claims.organization ? { organization: claims.organization } : {}),
      ...(claims.country ? { country: claims.country } : {}),
      groups: this.sources.groupsOf(participantId),
    };
  }

  /** Facts for deciding a contract request: identity, declared purpose, consent for the asset's originator. */
  negotiation(participantId: string, claims: Record<string, string>, requestedOffer: Json | null, assetId: string | null): PolicyFacts {
    const asset = assetId ? this.sources.store.assets.get(assetId) : undefined;
    const purpose = declaredPurpose(requestedOffer);
    return {
      ...this.identity(participantId, claims),
      ...(purpose ? { purpose } : {}),
      consent: this.sources.consentCheck(participantId, asset?.originator ?? null, asset?.category ?? null),
    };
  }

  /**
   * Facts for using an agreement (transfer start, every data access, policy monitor) on the provider. With
   * `transferId` (a data access), a transfer whose use was already counted is decided as that same use again:
   * `usageCount` is then the uses before its own, not every use so far.
   */
  underAgreement(agreement: AgreementRecord, opts: { now?: Date; transferId?: string } = {}): PolicyFacts {
    const consumerId = agreement.consumerId;
    const claims = this.sources.store.negotiations.get(agreement.negotiationId)?.counterpartyClaims ?? {};
    const asset = this.sources.store.assets.get(agreement.assetId);
    const purpose = declaredPurpose(agreement.agreement);
    return {
      ...this.identity(consumerId, claims, opts.now),
      ...(purpose ? { purpose } : {}),
      agreementTime: new Date(agreement.signedAt),
      usageCount: this.usesBefore(agreement.id, opts.transferId),
      consent: this.sources.consentCheck(consumerId, asset?.originator ?? null, asset?.category ?? null),
    };
  }

  /** Uses of the agreement before the one being decided: a new transfer's would be the next one. */
  private usesBefore(agreementId: string, transferId: string | undefined): number {
    const use = transferId === undefined ? undefined : this.sources.store.usage.useOf(transferId);
    return use === undefined ? this.sources.store.usage.count(agreementId) : use - 1;
  }
}

import type { Negotiation } from '../store/repositories/negotiations';
import type { DecisionScript, Intent, Trigger } from '../negotiation/decisions';
import { terminate } from '../negotiation/decisions';

/**
 * Scripted counterparty behaviour the Eclipse DSP TCK expects of the connector under test, keyed by
 * the fixed dataset ids it seeds (dsp-tck, scenario tables; see README "Conformance"). Anything not
 * listed falls back to the real decision rules. Only active in the conformance profile.
 */
const OFFER: Intent = { message: 'ContractOfferMessage' };
const AGREE: Intent = { message: 'ContractAgreementMessage' };
const FINALIZE: Intent = { message: 'FinalizedEvent' };
const ACCEPT: Intent = { message: 'AcceptedEvent' };
const VERIFY: Intent = { message: 'ContractAgreementVerificationMessage' };
const STOP = terminate('TCK_SCRIPTED', ['terminated as scripted for the conformance scenario']);
const NOTHING: Intent[] = [];

type Script = Partial<Record<Trigger, Intent[]>>;

/** Provider side (the TCK is the consumer): dataset ids ACN0101 … ACN0304. */
const PROVIDER: Record<string, Script> = {
  ACN0101: { requested: [OFFER] },
  ACN0204: { requested: [OFFER] },
  ACN0102: { requested: [OFFER], 'counter-requested': [STOP] },
  ACN0103: { requested: [OFFER], accepted: [AGREE], verified: [FINALIZE] },
  ACN0104: { requested: [AGREE], verified: [FINALIZE] },
  ACN0301: { requested: [AGREE], verified: [FINALIZE] },
  ACN0201: { requested: [STOP] },
  ACN0202: { requested: NOTHING },
  ACN0203: { requested: [AGREE] },
  ACN0205: { requested: [OFFER, STOP] },
  ACN0206: { requested: [OFFER], accepted: [STOP] },
  ACN0207: { requested: [AGREE], verified: [STOP] },
  ACN0302: { requested: [OFFER] },
  ACN0303: { requested: [OFFER], accepted: NOTHING },
  ACN0304: { requested: [OFFER], 'counter-requested': NOTHING },
};

/** Consumer side (the TCK is the provider): dataset ids ACNC0101 … ACNC0306. */
const CONSUMER: Record<string, Script> = {
  ACNC0101: { offered: [ACCEPT], agreed: [VERIFY] },
  ACNC0205: { offered: [ACCEPT] },
  ACNC0304: { offered: [ACCEPT] },
  ACNC0305: { offered: [ACCEPT] },
  ACNC0306: { offered: [ACCEPT], agreed: NOTHING },
  ACNC0102: { offered: [{ message: 'ContractCounterRequestMessage' }] },
  ACNC0103: { offered: [STOP] },
  ACNC0104: { agreed: [VERIFY] },
  ACNC0206: { agreed: [VERIFY] },
  ACNC0202: { 'sent-request': [STOP] },
  ACNC0203: { agreed: [STOP] },
};
/** Consumer scenarios not listed stay passive: the TCK drives them. */
const PASSIVE_CONSUMER = /^ACNC\d{4}$/;

export const TCK_PROVIDER_DATASETS = Object.keys(PROVIDER);
export const TCK_CATALOG_DATASETS = ['CAT0101', 'CAT0102'];

export class TckNegotiationScript implements DecisionScript {
  decide(trigger: Trigger, n: Negotiation): Intent[] | undefined {
    const dataset = n.assetId ?? '';
    const table = n.role === 'provider' ? PROVIDER : CONSUMER;
    const scripted = table[dataset]?.[trigger];
    if (scripted) return scripted;
    if (n.role === 'consumer' && PASSIVE_CONSUMER.test(dataset) && trigger !== 'finalized') return NOTHING;
    return undefined;
  }
}

import type { Negotiation } from '../store/repositories/negotiations';
import type { DecisionScript, Intent, Trigger } from '../negotiation/decisions';
import { terminate } from '../negotiation/decisions';
import type { Transfer } from '../store/repositories/transfers';
import type { TransferIntent, TransferScript, TransferTrigger } from '../transfer/transfer-service';

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

// ------------------------------------------------------------------------------------------- transfers

const START: TransferIntent = { message: 'TransferStartMessage' };
const COMPLETE: TransferIntent = { message: 'TransferCompletionMessage' };
const SUSPEND: TransferIntent = { message: 'TransferSuspensionMessage', code: 'TCK_SCRIPTED', reasons: ['suspended as scripted for the conformance scenario'] };
const END: TransferIntent = { message: 'TransferTerminationMessage', code: 'TCK_SCRIPTED', reasons: ['terminated as scripted for the conformance scenario'] };

/** Provider side (the TCK is the consumer), keyed by the seeded agreement ids ATP0101 … ATP0306. */
const PROVIDER_TRANSFERS: Record<string, TransferIntent[]> = {
  ATP0101: [START, END],
  ATP0102: [START, COMPLETE],
  ATP0103: [START, SUSPEND, END],
  ATP0104: [START, SUSPEND, START, COMPLETE],
  ATP0105: [END],
  ATP0201: [START],
  ATP0202: [START],
  ATP0203: [START],
  ATP0204: [START],
  ATP0205: [],
  ATP0301: [],
  ATP0302: [],
  ATP0303: [START],
  ATP0304: [START],
  ATP0305: [START],
  ATP0306: [START],
};

/** Consumer side (the TCK is the provider), keyed by ATPC0101 … ATPC0306; unlisted ones stay passive. */
const CONSUMER_TRANSFERS: Record<string, Partial<Record<TransferTrigger, TransferIntent[]>>> = {
  ATPC0201: { started: [END] },
  ATPC0202: { started: [COMPLETE] },
  ATPC0203: { started: [SUSPEND, END] },
  ATPC0205: { 'sent-request': [END] },
};

export const TCK_PROVIDER_AGREEMENTS = Object.keys(PROVIDER_TRANSFERS);
export const TCK_CONSUMER_AGREEMENTS = Array.from({ length: 3 }, (_, g) => Array.from({ length: 6 }, (_, i) => `ATPC0${g + 1}0${i + 1}`)).flat();

export class TckTransferScript implements TransferScript {
  decide(trigger: TransferTrigger, t: Transfer): TransferIntent[] | undefined {
    if (t.role === 'provider') return trigger === 'requested' ? PROVIDER_TRANSFERS[t.agreementId] : undefined;
    return CONSUMER_TRANSFERS[t.agreementId]?.[trigger] ?? (/^ATPC\d{4}$/.test(t.agreementId) ? NOTHING_T : undefined);
  }
}
const NOTHING_T: TransferIntent[] = [];

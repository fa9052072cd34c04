import type { Negotiation } from '../store/repositories/negotiations';
import type { NegotiationMessage } from '../statemachine/negotiation';

/**
 * What this connector owes the peer next, decided when a message arrives and executed after the
 * response has gone out (the peer learns our pid from that response). Persisted with the
 * negotiation, so a restart resumes exactly where the process stood.
 */
export interface Intent {
  message: Extract<
    NegotiationMessage,
    'ContractOfferMessage' | 'AcceptedEvent' | 'ContractAgreementMessage' | 'ContractAgreementVerificationMessage' | 'FinalizedEvent' | 'ContractNegotiationTerminationMessage' | 'ContractCounterRequestMessage'
  >;
  code?: string;
  reasons?: string[];
  offer?: Record<string, unknown>;
}

/** The event in a negotiation that calls for a decision. */
export type Trigger =
  | 'requested' // provider: initial request received
  | 'counter-requested' // provider: consumer counter-offer received
  | 'accepted' // provider: consumer accepted our offer
  | 'verified' // provider: consumer verified the agreement
  | 'sent-request' // consumer: our initial request is on its way
  | 'offered' // consumer: provider counter-offer received
  | 'initial-offer' // consumer: provider-initiated negotiation
  | 'agreed' // consumer: agreement received
  | 'finalized'; // consumer: provider finalized

/**
 * A pluggable decision maker. The default one implements the real business rules; the conformance
 * profile installs a scripted one for the DSP TCK's fixed ids. Returning `undefined` defers to the
 * default.
 */
export interface DecisionScript {
  decide(trigger: Trigger, negotiation: Negotiation, incoming?: Record<string, unknown>): Intent[] | undefined;
}

export const terminate = (code: string, reasons: string[]): Intent => ({ message: 'ContractNegotiationTerminationMessage', code, reasons });

import type { StateMachine } from './table';

export const NEGOTIATION_STATES = ['REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED', 'FINALIZED', 'TERMINATED'] as const;
export type NegotiationState = (typeof NEGOTIATION_STATES)[number];

/**
 * Negotiation messages, with the two event types and the two request flavours told apart: they
 * have different transitions (DSP 2025-1 contract negotiation, section "States").
 */
export type NegotiationMessage =
  | 'ContractRequestMessage' // initial: carries callbackAddress, creates the process
  | 'ContractCounterRequestMessage' // ContractRequestMessage carrying providerPid
  | 'ContractOfferMessage' // initial (provider-initiated) or counter-offer, told apart by `from`
  | 'AcceptedEvent'
  | 'ContractAgreementMessage'
  | 'ContractAgreementVerificationMessage'
  | 'FinalizedEvent'
  | 'ContractNegotiationTerminationMessage';

const LIVE: NegotiationState[] = ['REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED'];
const TERMINAL = new Set<NegotiationState>(['FINALIZED', 'TERMINATED']);
/** The non-terminal states: a negotiation in one of them is open (and counts toward its peer's quota). */
export const LIVE_NEGOTIATION_STATES: readonly NegotiationState[] = LIVE;

/** The provider's table: `in` = sent by the consumer, `out` = sent by us. */
export const PROVIDER_NEGOTIATION: StateMachine<NegotiationState, NegotiationMessage> = {
  name: 'contract negotiation',
  terminal: TERMINAL,
  transitions: [
    { from: [null], message: 'ContractRequestMessage', direction: 'in', to: 'REQUESTED' },
    { from: ['OFFERED'], message: 'ContractCounterRequestMessage', direction: 'in', to: 'REQUESTED' },
    { from: [null, 'REQUESTED'], message: 'ContractOfferMessage', direction: 'out', to: 'OFFERED' },
    { from: ['OFFERED'], message: 'AcceptedEvent', direction: 'in', to: 'ACCEPTED' },
    { from: ['REQUESTED', 'ACCEPTED'], message: 'ContractAgreementMessage', direction: 'out', to: 'AGREED' },
    { from: ['AGREED'], message: 'ContractAgreementVerificationMessage', direction: 'in', to: 'VERIFIED' },
    { from: ['VERIFIED'], message: 'FinalizedEvent', direction: 'out', to: 'FINALIZED' },
    // Prose: termination "MAY be sent at any state" except terminal ones, by either party.
    { from: LIVE, message: 'ContractNegotiationTerminationMessage', direction: 'in', to: 'TERMINATED' },
    { from: LIVE, message: 'ContractNegotiationTerminationMessage', direction: 'out', to: 'TERMINATED' },
  ],
};

/** The consumer's table: `in` = sent by the provider, `out` = sent by us. */
export const CONSUMER_NEGOTIATION: StateMachine<NegotiationState, NegotiationMessage> = {
  name: 'contract negotiation',
  terminal: TERMINAL,
  transitions: [
    { from: [null], message: 'ContractRequestMessage', direction: 'out', to: 'REQUESTED' },
    { from: ['OFFERED'], message: 'ContractCounterRequestMessage', direction: 'out', to: 'REQUESTED' },
    { from: [null, 'REQUESTED'], message: 'ContractOfferMessage', direction: 'in', to: 'OFFERED' },
    { from: ['OFFERED'], message: 'AcceptedEvent', direction: 'out', to: 'ACCEPTED' },
    { from: ['REQUESTED', 'ACCEPTED'], message: 'ContractAgreementMessage', direction: 'in', to: 'AGREED' },
    { from: ['AGREED'], message: 'ContractAgreementVerificationMessage', direction: 'out', to: 'VERIFIED' },
    { from: ['VERIFIED'], message: 'FinalizedEvent', direction: 'in', to: 'FINALIZED' },
    { from: LIVE, message: 'ContractNegotiationTerminationMessage', direction: 'in', to: 'TERMINATED' },
    { from: LIVE, message: 'ContractNegotiationTerminationMessage', direction: 'out', to: 'TERMINATED' },
  ],
};

import type { StateMachine } from './table';

export const TRANSFER_STATES = ['REQUESTED', 'STARTED', 'SUSPENDED', 'COMPLETED', 'TERMINATED'] as const;
export type TransferState = (typeof TRANSFER_STATES)[number];

export type TransferMessage =
  | 'TransferRequestMessage'
  | 'TransferStartMessage'
  | 'TransferCompletionMessage'
  | 'TransferSuspensionMessage'
  | 'TransferTerminationMessage';

const TERMINAL = new Set<TransferState>(['COMPLETED', 'TERMINATED']);
const LIVE: TransferState[] = ['REQUESTED', 'STARTED', 'SUSPENDED'];
/** The non-terminal states: a transfer in one of them is open (and counts toward its peer's quota). */
export const LIVE_TRANSFER_STATES: readonly TransferState[] = LIVE;

/** The provider's table (DSP 2025-1 transfer process, section "States"). */
export const PROVIDER_TRANSFER: StateMachine<TransferState, TransferMessage> = {
  name: 'transfer process',
  terminal: TERMINAL,
  transitions: [
    { from: [null], message: 'TransferRequestMessage', direction: 'in', to: 'REQUESTED' },
    { from: ['REQUESTED', 'SUSPENDED'], message: 'TransferStartMessage', direction: 'out', to: 'STARTED' },
    // The consumer may resume a suspended transfer, never start a requested one.
    { from: ['SUSPENDED'], message: 'TransferStartMessage', direction: 'in', to: 'STARTED' },
    { from: ['STARTED'], message: 'TransferCompletionMessage', direction: 'in', to: 'COMPLETED' },
    { from: ['STARTED'], message: 'TransferCompletionMessage', direction: 'out', to: 'COMPLETED' },
    { from: ['STARTED'], message: 'TransferSuspensionMessage', direction: 'in', to: 'SUSPENDED' },
    { from: ['STARTED'], message: 'TransferSuspensionMessage', direction: 'out', to: 'SUSPENDED' },
    { from: LIVE, message: 'TransferTerminationMessage', direction: 'in', to: 'TERMINATED' },
    { from: LIVE, message: 'TransferTerminationMessage', direction: 'out', to: 'TERMINATED' },
  ],
};

/** The consumer's table. */
export const CONSUMER_TRANSFER: StateMachine<TransferState, TransferMessage> = {
  name: 'transfer process',
  terminal: TERMINAL,
  transitions: [
    { from: [null], message: 'TransferRequestMessage', direction: 'out', to: 'REQUESTED' },
    { from: ['REQUESTED', 'SUSPENDED'], message: 'TransferStartMessage', direction: 'in', to: 'STARTED' },
    { from: ['SUSPENDED'], message: 'TransferStartMessage', direction: 'out', to: 'STARTED' },
    { from: ['STARTED'], message: 'TransferCompletionMessage', direction: 'in', to: 'COMPLETED' },
    { from: ['STARTED'], message: 'TransferCompletionMessage', direction: 'out', to: 'COMPLETED' },
    { from: ['STARTED'], message: 'TransferSuspensionMessage', direction: 'in', to: 'SUSPENDED' },
    { from: ['STARTED'], message: 'TransferSuspensionMessage', direction: 'out', to: 'SUSPENDED' },
    { from: LIVE, message: 'TransferTerminationMessage', direction: 'in', to: 'TERMINATED' },
    { from: LIVE, message: 'TransferTerminationMessage', direction: 'out', to: 'TERMINATED' },
  ],
};

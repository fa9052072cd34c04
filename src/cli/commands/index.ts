import type { Command } from '../command';
import { initCommand } from './init';
import { startCommand } from './start';
import { doctorCommand } from './doctor';
import { backupCommand } from './backup';
import { restoreCommand } from './restore';
import { migrateCommand } from './migrate';
import { certsCsrCommand, certsImportCommand, certsRenewCommand, certsStatusCommand } from './certs';
import { trustAddCommand, trustListCommand, trustRemoveCommand } from './trust';
import { caInitCommand, caIssueCommand } from './ca';
import { configCommand } from './config';
import { sdCreateCommand, sdVerifyCommand } from './sd';
import { auditExportCommand, auditVerifyCommand } from './audit';
import { apikeyCreateCommand, apikeyListCommand, apikeyRevokeCommand } from './apikey';
import { assetAddCommand, assetListCommand } from './asset';
import { policyAddCommand, policyListCommand } from './policy';
import { offerAddCommand, offerListCommand } from './offer';
import { catalogCommand } from './catalog';
import { negotiateCommand, negotiationsCommand } from './negotiation';
import { consentGrantCommand, consentListCommand, consentRefuseCommand, consentRequestCommand, consentRevokeCommand, consentShowCommand } from './consent';
import { groupAddCommand, groupListCommand, groupRemoveCommand } from './group';
import { fetchCommand, transferCompleteCommand, transferResumeCommand, transferStartCommand, transferSuspendCommand, transferTerminateCommand, transfersCommand } from './transfer';

/** Every command, in the order `hedgerow --help` lists them. */
export const COMMANDS: Command[] = [
  initCommand,
  startCommand,
  doctorCommand,
  backupCommand,
  restoreCommand,
  migrateCommand,
  certsStatusCommand,
  certsCsrCommand,
  certsImportCommand,
  certsRenewCommand,
  trustAddCommand,
  trustListCommand,
  trustRemoveCommand,
  caInitCommand,
  caIssueCommand,
  apikeyCreateCommand,
  apikeyListCommand,
  apikeyRevokeCommand,
  assetAddCommand,
  assetListCommand,
  policyAddCommand,
  policyListCommand,
  offerAddCommand,
  offerListCommand,
  catalogCommand,
  negotiateCommand,
  negotiationsCommand,
  transferStartCommand,
  transferSuspendCommand,
  transferResumeCommand,
  transferCompleteCommand,
  transferTerminateCommand,
  transfersCommand,
  fetchCommand,
  consentRequestCommand,
  consentGrantCommand,
  consentRefuseCommand,
  consentRevokeCommand,
  consentListCommand,
  consentShowCommand,
  groupAddCommand,
  groupRemoveCommand,
  groupListCommand,
  configCommand,
  sdCreateCommand,
  sdVerifyCommand,
  auditVerifyCommand,
  auditExportCommand,
];

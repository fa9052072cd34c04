import type { Command } from '../command';
import { initCommand } from './init';
import { startCommand } from './start';
import { doctorCommand } from './doctor';
import { certsCsrCommand, certsImportCommand, certsRenewCommand, certsStatusCommand } from './certs';
import { trustAddCommand, trustListCommand, trustRemoveCommand } from './trust';
import { caInitCommand, caIssueCommand } from './ca';
import { configCommand } from './config';
import { apikeyCreateCommand, apikeyListCommand, apikeyRevokeCommand } from './apikey';

/** Every command, in the order `hedgerow --help` lists them. */
export const COMMANDS: Command[] = [
  initCommand,
  startCommand,
  doctorCommand,
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
  configCommand,
];

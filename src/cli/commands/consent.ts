import { defineCommand, stringOption, type CommandIo } from '../command';
import { UsageError } from '../../errors';
import { CONSENT_STATUSES, type Consent as ApiConsent } from '../../store/repositories/consents';
import type { ConsentDetail as ApiConsentDetail } from '../../consent/consent-service';
import { formatTable, printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, seg, type ManagementClient } from '../management-client';

/**
 * Farmer consent from the command line, through the management API of the running connector:
 *   hedgerow consent request --originator O --purpose P --beneficiary B [--category C] [--from ISO] [--until ISO]
 *   hedgerow consent grant|refuse|revoke <id> [--reason R]
 *   hedgerow consent list [--status S] [--originator O] [--beneficiary B] [--json]
 *   hedgerow consent show <id> [--json]
 */

const DESCRIPTION = MANAGEMENT_DESCRIPTION;

function summary(c: ApiConsent): string {
  const parts = [`${c.originator} -> ${c.beneficiary}`, `purpose ${c.purpose}`, c.category ? `category ${c.category}` : 'all categories'];
  if (c.validFrom) parts.push(`from ${c.validFrom}`);
  if (c.validUntil) parts.push(`until ${c.validUntil}`);
  return parts.join(', ');
}

function printDetail(c: ApiConsentDetail, io: CommandIo): void {
  io.out(`consent ${c.id}: ${c.status}`);
  io.out(`  originator   ${c.originator}`);
  io.out(`  category     ${c.category ?? '(all categories)'}`);
  io.out(`  purpose      ${c.purpose}`);
  io.out(`  beneficiary  ${c.beneficiary}`);
  io.out(`  valid        ${c.validFrom ?? 'when granted'} .. ${c.validUntil ?? 'until revoked'}`);
  if (c.approvalExpiresAt) io.out(`  approval link valid until ${c.approvalExpiresAt}`);
  io.out('history:');
  for (const line of formatTable(
    ['at', 'status', 'actor', 'note'],
    c.history.map((h) => [h.at, h.status, h.actor, h.note ?? '']),
  ))
    io.out(`  ${line}`);
}

export const consentRequestCommand = defineCommand(
  {
    name: 'consent request',
    summary: "ask a farmer (data originator) for consent; prints the one-time approval link",
    description:
      DESCRIPTION +
      '\nThe link opens a page on the public listener where the farmer grants or refuses. It is shown only once.' +
      '\nexample: hedgerow consent request --originator farm:FR-3561 --category parcel-yields --purpose agronomic-advice --beneficiary did:web:advisor.example --until 2027-06-30',
    options: {
      originator: { type: 'string' },
      purpose: { type: 'string' },
      beneficiary: { type: 'string' },
      category: { type: 'string' },
      from: { type: 'string' },
      until: { type: 'string' },
      note: { type: 'string' },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values }, io) {
      const originator = stringOption(values, 'originator');
      const purpose = stringOption(values, 'purpose');
      const beneficiary = stringOption(values, 'beneficiary');
      const missing = [!originator && '--originator', !purpose && '--purpose', !beneficiary && '--beneficiary'].filter(Boolean);
      if (missing.length) throw new UsageError(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} required (see "hedgerow consent request --help")`);
      const body = {
        originator,
        purpose,
        beneficiary,
        ...(stringOption(values, 'category') !== undefined ? { category: stringOption(values, 'category') } : {}),
        ...(stringOption(values, 'from') !== undefined ? { validFrom: stringOption(values, 'from') } : {}),
        ...(stringOption(values, 'until') !== undefined ? { validUntil: stringOption(values, 'until') } : {}),
        ...(stringOption(values, 'note') !== undefined ? { note: stringOption(values, 'note') } : {}),
      };
      const result = await managementClient(values, io).post<{ consent: ApiConsentDetail; approvalUrl: string; approvalExpiresAt: string }>('/consents', body);
      if (values.json) {
        io.out(JSON.stringify(result, null, 2));
        return 0;
      }
      io.out(`requested consent ${result.consent.id} (pending): ${summary(result.consent)}`);
      io.out(`approval link for the farmer (shown only now; usable once, until ${result.approvalExpiresAt}):`);
      io.out(result.approvalUrl);
      return 0;
    },
  },
  {
    ...MANAGEMENT_HELP,
    originator: 'the farm or data subject whose data it is (as in the assets\' --originator); required',
    purpose: 'what the data may be used for; required',
    beneficiary: 'participant id that may receive the data; required',
    category: 'data category, e.g. parcel-yields (default: every category)',
    from: 'start of validity, ISO 8601 date or date-time (default: when granted)',
    until: 'end of validity, ISO 8601 date or date-time (default: until revoked)',
    note: 'note for the history',
    json: 'print the consent and the link as JSON',
  },
);

function decisionCommand(action: 'grant' | 'refuse' | 'revoke') {
  const summaries = {
    grant: 'record that the farmer granted a pending consent (e.g. on paper)',
    refuse: 'record that the farmer refused a pending consent',
    revoke: 'revoke a granted consent: dependent agreements and transfers stop',
  };
  const done = { grant: 'granted', refuse: 'refused', revoke: 'revoked' };
  return defineCommand(
    {
      name: `consent ${action}`,
      summary: summaries[action],
      args: '<consent-id>',
      positionals: [1, 1],
      description: DESCRIPTION,
      options: { reason: { type: 'string' }, json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
      async run({ values, positionals }, io) {
        const reason = stringOption(values, 'reason');
        const consent = await managementClient(values, io).post<ApiConsentDetail>(`/consents/${seg(positionals[0]!)}/${action}`, reason !== undefined ? { reason } : {});
        if (values.json) io.out(JSON.stringify(consent, null, 2));
        else io.out(`consent ${consent.id} ${done[action]}: ${summary(consent)}`);
        return 0;
      },
    },
    { ...MANAGEMENT_HELP, reason: 'recorded in the history' + (action === 'revoke' ? ' and sent to the consumer with the termination' : ''), json: 'print the consent as JSON' },
  );
}

export const consentGrantCommand = decisionCommand('grant');
export const consentRefuseCommand = decisionCommand('refuse');
export const consentRevokeCommand = decisionCommand('revoke');

/** Every consent matching the query, newest first (pages through `before`). */
async function allConsents(client: ManagementClient, query: Record<string, string | undefined>): Promise<ApiConsent[]> {
  const out: ApiConsent[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await client.get<ApiConsent[]>('/consents', { ...query, before, limit: 500 });
    out.push(...page);
    if (page.length < 500) return out;
    before = page[page.length - 1]!.id;
  }
}

export const consentListCommand = defineCommand(
  {
    name: 'consent list',
    summary: 'list consents, newest first',
    description: DESCRIPTION,
    options: { status: { type: 'string' }, originator: { type: 'string' }, beneficiary: { type: 'string' }, purpose: { type: 'string' }, json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values }, io) {
      const status = stringOption(values, 'status');
      if (status !== undefined && !(CONSENT_STATUSES as readonly string[]).includes(status)) throw new UsageError(`--status must be one of ${CONSENT_STATUSES.join(', ')}`);
      const consents = await allConsents(managementClient(values, io), {
        status,
        originator: stringOption(values, 'originator'),
        beneficiary: stringOption(values, 'beneficiary'),
        purpose: stringOption(values, 'purpose'),
      });
      return printList(io, consents, {
        json: values.json,
        empty: 'no consents (request one with "hedgerow consent request")',
        headers: ['id', 'status', 'originator', 'category', 'purpose', 'beneficiary', 'valid until'],
        rows: (items) => items.map((c) => [c.id, c.status, c.originator, c.category ?? '(all)', c.purpose, c.beneficiary, c.validUntil ?? '-']),
      });
    },
  },
  {
    ...MANAGEMENT_HELP,
    status: `only consents in this status (${CONSENT_STATUSES.join(', ')})`,
    originator: 'only consents of this originator',
    beneficiary: 'only consents for this beneficiary',
    purpose: 'only consents for this purpose',
    json: 'print as JSON',
  },
);

export const consentShowCommand = defineCommand(
  {
    name: 'consent show',
    summary: 'one consent with its status history (who changed it, when, why)',
    args: '<consent-id>',
    positionals: [1, 1],
    description: DESCRIPTION,
    options: { json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values, positionals }, io) {
      const consent = await managementClient(values, io).get<ApiConsentDetail>(`/consents/${seg(positionals[0]!)}`);
      if (values.json) io.out(JSON.stringify(consent, null, 2));
      else printDetail(consent, io);
      return 0;
    },
  },
  { ...MANAGEMENT_HELP, json: 'print as JSON' },
);

import { defineCommand, listOption, stringOption } from '../command';
import { UsageError } from '../../errors';
import type { OfferDefinition as ApiOffer } from '../../store/repositories/offers';
import { allPages, printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient } from '../management-client';

export const offerAddCommand = defineCommand(
  {
    name: 'offer add',
    summary: 'offer assets under an access policy (who sees them) and a contract policy (what is agreed)',
    description: MANAGEMENT_DESCRIPTION + '\nexample: hedgerow offer add --id yields-offer --access-policy members-only --contract-policy research-use --asset yields-2024',
    options: {
      id: { type: 'string' },
      'access-policy': { type: 'string' },
      'contract-policy': { type: 'string' },
      asset: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values }, io) {
      const id = stringOption(values, 'id');
      const accessPolicyId = stringOption(values, 'access-policy');
      const contractPolicyId = stringOption(values, 'contract-policy');
      const assetIds = listOption(values, 'asset');
      const missing = [!id && '--id', !accessPolicyId && '--access-policy', !contractPolicyId && '--contract-policy', !assetIds.length && '--asset'].filter(Boolean);
      if (missing.length) throw new UsageError(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} required (see "hedgerow offer add --help")`);
      const offer = await managementClient(values, io).post<ApiOffer>('/offers', { id, accessPolicyId, contractPolicyId, assetIds });
      if (values.json) io.out(JSON.stringify(offer, null, 2));
      else io.out(`added offer ${offer.id}: ${offer.assetIds.join(', ')} (access ${offer.accessPolicyId}, contract ${offer.contractPolicyId})`);
      return 0;
    },
  },
  {
    ...MANAGEMENT_HELP,
    id: 'offer id (letters, digits and . _ ~ -); required',
    'access-policy': 'id of the policy deciding who sees the offer in the catalog; required',
    'contract-policy': 'id of the policy that becomes the agreement; required',
    asset: 'asset id (repeatable, or comma-separated); at least one',
    json: 'print the created offer as JSON',
  },
);

export const offerListCommand = defineCommand(
  {
    name: 'offer list',
    summary: 'list the offers (contract definitions)',
    description: MANAGEMENT_DESCRIPTION,
    options: { json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values }, io) {
      const offers = await allPages<ApiOffer>(managementClient(values, io), '/offers');
      return printList(io, offers, {
        json: values.json,
        empty: 'no offers (add one with "hedgerow offer add")',
        headers: ['id', 'access policy', 'contract policy', 'assets'],
        rows: (items) => items.map((o) => [o.id, o.accessPolicyId, o.contractPolicyId, o.assetIds.join(', ')]),
      });
    },
  },
  { ...MANAGEMENT_HELP, json: 'print as JSON' },
);

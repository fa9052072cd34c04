import { defineCommand, stringOption } from '../command';
import { UsageError } from '../../errors';
import { formatTable, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, type ManagementClient } from '../management-client';

type Json = Record<string, unknown>;

const PAGE = 500;
const MAX_PAGES = 200;

/** A provider's DSP base URL given on the command line: https only (the protocol runs over TLS). */
export function dspUrlArgument(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`"${raw}" is not a URL: give the provider's DSP base URL, e.g. https://coop.example:8443/dsp/2025-1`);
  }
  if (url.protocol !== 'https:') throw new UsageError(`the provider's DSP URL must start with https:// (got ${raw})`);
  return raw.replace(/\/+$/, '');
}

export function providerIdOption(values: Parameters<typeof stringOption>[0], command: string): string {
  const id = stringOption(values, 'provider-id');
  if (!id) throw new UsageError(`--provider-id ID is required: the provider's participant id, e.g. did:web:coop.example (see "hedgerow ${command} --help")`);
  return id;
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

/** A literal of a catalog property, compact or expanded (`{"@value": ...}`), in any of the usual prefixes. */
function literal(ds: Json, ...keys: string[]): string {
  for (const k of keys) {
    for (const v of asArray(ds[k])) {
      if (typeof v === 'string') return v;
      if (v && typeof v === 'object' && typeof (v as Json)['@value'] === 'string') return (v as Json)['@value'] as string;
    }
  }
  return '';
}

export function datasetsOf(catalog: Json): Json[] {
  return asArray(catalog.dataset ?? catalog['dcat:dataset']).filter((d): d is Json => !!d && typeof d === 'object');
}

export function offerIdsOf(dataset: Json): string[] {
  return asArray(dataset.hasPolicy ?? dataset['odrl:hasPolicy'])
    .map((o) => (o && typeof o === 'object' ? (o as Json)['@id'] : undefined))
    .filter((id): id is string => typeof id === 'string');
}

/** Every page of the provider's catalog; later pages' datasets are merged into the first catalog object. */
async function fetchCatalog(client: ManagementClient, address: string, providerId: string): Promise<Json> {
  const first = await client.post<Json>('/catalog/request', { counterPartyAddress: address, counterPartyId: providerId, limit: PAGE });
  const all = datasetsOf(first);
  const seen = new Set(all.map((d) => d['@id']));
  let page = all;
  for (let n = 1; n < MAX_PAGES && page.length > 0; n++) {
    const after = page[page.length - 1]!['@id'];
    if (typeof after !== 'string') break;
    const next = await client.post<Json>('/catalog/request', { counterPartyAddress: address, counterPartyId: providerId, after, limit: PAGE });
    // A provider that ignores `after` sends the same page again: stop there.
    page = datasetsOf(next).filter((d) => !seen.has(d['@id']));
    for (const d of page) seen.add(d['@id']);
    all.push(...page);
  }
  if (all.length && first.dataset !== undefined) return { ...first, dataset: all };
  if (all.length && first['dcat:dataset'] !== undefined) return { ...first, 'dcat:dataset': all };
  return first;
}

export const catalogCommand = defineCommand(
  {
    name: 'catalog',
    summary: "fetch a provider's catalog over the Dataspace Protocol: datasets and their offer ids",
    args: '<dsp-url>',
    positionals: [1, 1],
    description:
      MANAGEMENT_DESCRIPTION +
      '\n<dsp-url> is the provider\'s DSP base URL, e.g. https://coop.example:8443/dsp/2025-1.\n' +
      'Negotiate for an offer with "hedgerow negotiate <dsp-url> <offer-id> --provider-id ID".',
    options: { 'provider-id': { type: 'string' }, json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values, positionals }, io) {
      const address = dspUrlArgument(positionals[0]!);
      const providerId = providerIdOption(values, 'catalog');
      const catalog = await fetchCatalog(managementClient(values, io), address, providerId);
      if (values.json) {
        io.out(JSON.stringify(catalog, null, 2));
        return 0;
      }
      const datasets = datasetsOf(catalog);
      if (!datasets.length) {
        io.out(`${providerId} offers no datasets to this connector`);
        return 0;
      }
      const rows = datasets.flatMap((ds) => {
        const offers = offerIdsOf(ds);
        const id = typeof ds['@id'] === 'string' ? ds['@id'] : '';
        const title = literal(ds, 'title', 'dct:title', 'dcterms:title', 'http://purl.org/dc/terms/title');
        // One line per offer, so that offer ids can be copied whole.
        return (offers.length ? offers : ['(no offer)']).map((offer, i) => (i === 0 ? [id, title, offer] : ['', '', offer]));
      });
      io.out(`catalog of ${providerId}: ${datasets.length} dataset${datasets.length === 1 ? '' : 's'}`);
      for (const line of formatTable(['dataset', 'title', 'offer id'], rows)) io.out(line);
      return 0;
    },
  },
  { ...MANAGEMENT_HELP, 'provider-id': "the provider's participant id, e.g. did:web:coop.example; required", json: 'print the catalog JSON as received' },
);

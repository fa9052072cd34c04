import { defineCommand, listOption, stringOption, type Values } from '../command';
import { UsageError } from '../../errors';
import type { PublicAsset as ApiAsset } from '../../management/api';
import { allPages, printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient } from '../management-client';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `--header 'Name: value'` options as a header object; values are secrets and never echoed. */
export function parseHeaders(values: Values): Record<string, string> | undefined {
  const raw = values.header;
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  if (!list.length) return undefined;
  const headers: Record<string, string> = {};
  const seen = new Set<string>();
  for (const h of list) {
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim() : '';
    if (!name || !HEADER_NAME.test(name)) throw new UsageError(`--header must look like 'Name: value' (got a value without a valid header name before ":")`);
    const value = h.slice(colon + 1).trim();
    if (/[\r\n]/.test(value)) throw new UsageError(`--header ${name}: the value must not contain line breaks`);
    if (seen.has(name.toLowerCase())) throw new UsageError(`--header ${name} given twice`);
    seen.add(name.toLowerCase());
    headers[name] = value;
  }
  return headers;
}

function sourceText(a: ApiAsset): string {
  if (a.source.type === 'file') return `file ${a.source.path}`;
  return `http ${a.source.url}${a.source.hasCredentials ? ' (with credentials)' : ''}`;
}

export const assetAddCommand = defineCommand(
  {
    name: 'asset add',
    summary: 'register an asset: a file under the data root or an HTTP backend',
    description:
      MANAGEMENT_DESCRIPTION +
      '\nGive exactly one of --file or --url. Header values (backend credentials) are stored by the connector and never shown again.\n' +
      "example: hedgerow asset add --id yields-2024 --title 'Parcel yields 2024' --url https://erp.local/yields --header 'Authorization: Bearer s3cret'",
    options: {
      id: { type: 'string' },
      title: { type: 'string' },
      description: { type: 'string' },
      keyword: { type: 'string', multiple: true },
      'content-type': { type: 'string' },
      originator: { type: 'string' },
      category: { type: 'string' },
      file: { type: 'string' },
      url: { type: 'string' },
      header: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values }, io) {
      const id = stringOption(values, 'id');
      const title = stringOption(values, 'title');
      if (!id) throw new UsageError('--id ID is required (see "hedgerow asset add --help")');
      if (!title) throw new UsageError('--title T is required (see "hedgerow asset add --help")');
      const file = stringOption(values, 'file');
      const url = stringOption(values, 'url');
      if (!!file === !!url) throw new UsageError('give exactly one of --file PATH or --url URL');
      const headers = parseHeaders(values);
      if (headers && !url) throw new UsageError('--header only applies to an --url asset');
      const body = {
        id,
        title,
        description: stringOption(values, 'description'),
        keywords: listOption(values, 'keyword'),
        contentType: stringOption(values, 'content-type'),
        originator: stringOption(values, 'originator'),
        category: stringOption(values, 'category'),
        source: file ? { type: 'file', path: file } : { type: 'http', url, ...(headers ? { headers } : {}) },
      };
      const asset = await managementClient(values, io).post<ApiAsset>('/assets', body);
      if (values.json) io.out(JSON.stringify(asset, null, 2));
      else io.out(`added asset ${asset.id}: ${sourceText(asset)}`);
      return 0;
    },
  },
  {
    ...MANAGEMENT_HELP,
    id: 'asset id (letters, digits and . _ ~ -); required',
    title: 'title shown in the catalog; required',
    description: 'longer description',
    keyword: 'catalog keyword (repeatable, or comma-separated)',
    'content-type': 'media type of the data, e.g. text/csv',
    originator: 'the member farm or data subject the data comes from',
    category: 'data category, e.g. parcel-yields (a consent limited to a category covers only its assets)',
    file: 'path of the file (under the data root)',
    url: 'URL of the HTTP backend serving the data',
    header: "header sent to the backend, 'Name: value' (repeatable; stored, never shown)",
    json: 'print the created asset as JSON',
  },
);

export const assetListCommand = defineCommand(
  {
    name: 'asset list',
    summary: 'list the registered assets',
    description: MANAGEMENT_DESCRIPTION,
    options: { json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
    async run({ values }, io) {
      const assets = await allPages<ApiAsset>(managementClient(values, io), '/assets');
      return printList(io, assets, {
        json: values.json,
        empty: 'no assets (add one with "hedgerow asset add")',
        headers: ['id', 'title', 'content type', 'source'],
        rows: (items) => items.map((a) => [a.id, a.title ?? '', a.contentType ?? '', sourceText(a)]),
      });
    },
  },
  { ...MANAGEMENT_HELP, json: 'print as JSON' },
);

/**
 * The offline JSON-LD document loader: the W3C and Gaia-X contexts are served from the copies in spec/gaiax and
 * nothing is ever fetched (contexts of the Gaia-X registry are mutable "development" URLs and egress is often blocked,
 * NOTES §10.3-4). Any other context URL is an error naming it, so a credential that needs it fails loudly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CREDENTIALS_V1, CREDENTIALS_V2, GAIAX_SPEC_DIR, GX_2210, GX_LOIRE, JWS2020_CONTEXT } from './constants';

export interface RemoteDocument {
  documentUrl: string;
  document: unknown;
  contextUrl?: string;
}

const TRUSTFRAMEWORK_2210 = path.join('2210', 'trustframework-2210.shapes.jsonld');
const GX_LOIRE_CONTEXT = path.join('loire', 'gx.context.25.11.jsonld');

/** URL (without fragment, without trailing '#') to file under spec/gaiax. */
const FILES: ReadonlyArray<[string, string]> = [
  [CREDENTIALS_V1, path.join('contexts', 'credentials_v1.json')],
  [CREDENTIALS_V2, path.join('contexts', 'credentials_v2.json')],
  [JWS2020_CONTEXT, path.join('contexts', 'jws2020_v1.json')],
  // lds-jws2020 context as referenced by some DID documents and proofs.
  ['https://w3c-ccg.github.io/lds-jws2020/contexts/v1', path.join('contexts', 'jws2020_v1.json')],
  [GX_LOIRE, GX_LOIRE_CONTEXT],
  ['https://w3id.org/gaia-x/development', GX_LOIRE_CONTEXT],
  [GX_2210, TRUSTFRAMEWORK_2210],
  // The same trust framework as served by the lab's other deployments (the mirror the compliance service bundles).
  [GX_2210.replace('/development/', '/main/'), TRUSTFRAMEWORK_2210],
  [GX_2210.replace('/development/', '/v1/'), TRUSTFRAMEWORK_2210],
  [GX_2210.replace('/development/', '/v1-staging/'), TRUSTFRAMEWORK_2210],
];

const normalise = (url: string) => url.replace(/#.*$/, '').replace(/\/+$/, '');
const byUrl = new Map(FILES.map(([url, file]) => [normalise(url), file]));
const cache = new Map<string, unknown>();

/** The parsed JSON of a file under spec/gaiax (cached). */
export function specJson(relative: string): unknown {
  let doc = cache.get(relative);
  if (doc === undefined) {
    doc = JSON.parse(fs.readFileSync(path.join(GAIAX_SPEC_DIR, relative), 'utf8'));
    cache.set(relative, doc);
  }
  return doc;
}

/** True if the URL is one of the bundled contexts. */
export function isKnownContext(url: string): boolean {
  return byUrl.has(normalise(url));
}

/**
 * jsonld.js documentLoader. Returns a fresh shallow wrapper each time (jsonld does not mutate documents). Only the
 * `@context` of a document is handed over, so the 22.10 trust framework's @graph of shapes is never expanded as data.
 */
export async function offlineDocumentLoader(url: string): Promise<RemoteDocument> {
  const file = byUrl.get(normalise(url));
  if (!file) throw new Error(`offline JSON-LD loader: no local copy of ${url} (contexts are never fetched)`);
  const doc = specJson(file) as Record<string, unknown>;
  return { documentUrl: url, document: { '@context': doc['@context'] } };
}

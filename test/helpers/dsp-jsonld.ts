/**
 * JSON-LD expansion the way the DSP TCK does it: only the two DSP 2025-1 contexts are known, served
 * from the copies shipped in spec/dsp-2025-1/context; any other remote context is an error (never
 * fetched). A message that expands here is one the TCK can read.
 */
import fs from 'node:fs';
import path from 'node:path';
import jsonld from 'jsonld';
import type { RemoteDocument } from 'jsonld/jsonld-spec';
import { DSP_CONTEXT, DSP_SCHEMA_DIR } from '../../src/protocol/dsp/schema-validator';

export const DSP_NS = 'https://w3id.org/dspace/2025/1/';
const ODRL_PROFILE = 'https://w3id.org/dspace/2025/1/odrl-profile.jsonld';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const readContextFile = (name: string): Json => JSON.parse(fs.readFileSync(path.join(DSP_SCHEMA_DIR, 'context', name), 'utf8')) as Json;

/**
 * Replace every `@import` of the ODRL profile by its terms (local terms win), as JSON-LD 1.1 defines
 * `@import`. Needed because jsonld.js caches the merged result of an `@import` per active context, not
 * per importing context (open bug digitalbazaar/jsonld.js#537): the DSP context imports the profile in
 * Dataset and in the contract messages, so whichever is expanded first silently strips the other's own
 * terms later in the process (a ContractRequestMessage after a Dataset loses `offer` and `callbackAddress`).
 */
function inlineImports(node: unknown, imported: Json): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineImports(n, imported));
  if (!isObject(node)) return node;
  const local = Object.fromEntries(Object.entries(node).filter(([k]) => k !== '@import').map(([k, v]) => [k, inlineImports(v, imported)]));
  if (node['@import'] === undefined) return local;
  if (node['@import'] !== ODRL_PROFILE) throw new Error(`offline JSON-LD loader: unexpected @import ${String(node['@import'])}`);
  return { ...imported, ...local };
}

let documents: Map<string, RemoteDocument> | undefined;

function loadDocuments(): Map<string, RemoteDocument> {
  const odrl = readContextFile('odrl.jsonld');
  const dspace = inlineImports(readContextFile('dspace.jsonld'), odrl['@context'] as Json);
  const remote = (url: string, document: unknown): RemoteDocument => ({ documentUrl: url, document: document as RemoteDocument['document'] });
  return new Map([
    [DSP_CONTEXT, remote(DSP_CONTEXT, dspace)],
    [ODRL_PROFILE, remote(ODRL_PROFILE, odrl)],
  ]);
}

async function offlineDocumentLoader(url: string): Promise<RemoteDocument> {
  documents ??= loadDocuments();
  const doc = documents.get(url);
  if (!doc) throw new Error(`offline JSON-LD loader: no local copy of ${url} (only the DSP 2025-1 contexts are available)`);
  return doc;
}

/** Expand a DSP message with the offline loader; rejects if it references any other remote context. */
export async function expandDsp(doc: unknown): Promise<object[]> {
  return jsonld.expand(doc as jsonld.JsonLdDocument, { documentLoader: offlineDocumentLoader });
}

/**
 * SHACL validation of credentials, as the Gaia-X compliance service does it: the credentials of a presentation are
 * turned into RDF together (references between credentials resolve inside the presentation) and validated against the
 * shapes of the matching release. Runs inside the SHACL worker (shacl-worker.ts), never on the connector's main thread:
 * rdf-validate-shacl is ESM-only and the 25.11 shapes take about a second to prepare.
 *
 * The 25.11 shapes (2.3 MB Turtle, 164,702 triples) repeat the same big `sh:in` lists (IANA media types 35 times,
 * countries, ISO 3166-2 subdivisions): 94% of the triples are rdf:first/rdf:rest. Identical lists are merged into one
 * shared list node before the validator is built, which leaves about 29,000 triples with exactly the same meaning
 * (a list node may be shared) and cuts the memory of the prepared validator by about five.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as N3 from 'n3';
import { GAIAX_SPEC_DIR, type ShapesRelease } from './constants';
import { offlineDocumentLoader, specJson } from './documents';

const RDF = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#';
const SH_IN = 'http://www.w3.org/ns/shacl#in';

export const SHAPES_FILES: Record<ShapesRelease, string> = {
  '25.11': path.join('loire', 'gx.shacl.25.11.ttl'),
  '22.10': path.join('2210', 'trustframework-2210.shapes.jsonld'),
};
/** rdfs:subClassOf axioms of the ontology that the shapes rely on (sh:class on a subclass instance). */
const CLASS_HIERARCHY: Partial<Record<ShapesRelease, string>> = { '25.11': path.join('loire', 'gx.class-hierarchy.25.11.ttl') };

export interface ShaclResult {
  focusNode: string;
  path: string | null;
  message: string;
  severity: string;
  constraint: string;
  shape: string | null;
  value: string | null;
}

export interface ShaclReport {
  release: ShapesRelease;
  conforms: boolean;
  triples: number;
  results: ShaclResult[];
}

interface Validator {
  validate(data: unknown): Promise<{ conforms: boolean; results: ValidationResult[] }>;
}
interface ValidationResult {
  message: Array<{ value: string }>;
  path: { value: string; termType: string } | null;
  focusNode: { value: string; termType: string } | null;
  severity: { value: string } | null;
  sourceConstraintComponent: { value: string } | null;
  sourceShape: { value: string; termType: string } | null;
  value: { value: string; termType: string } | null;
}

function n3(): typeof N3 {
  return require('n3') as typeof N3;
}

/** Merge identical RDF lists used as sh:in values (same items, same order) into one list node. */
export function dedupeInLists(quads: N3.Quad[]): N3.Quad[] {
  const first = new Map<string, N3.Quad>();
  const rest = new Map<string, N3.Quad>();
  for (const q of quads) {
    if (q.subject.termType !== 'BlankNode') continue;
    if (q.predicate.value === `${RDF}first`) first.set(q.subject.value, q);
    else if (q.predicate.value === `${RDF}rest`) rest.set(q.subject.value, q);
  }
  const { DataFactory } = n3();
  const canonical = new Map<string, N3.Term>();
  const dropNodes = new Set<string>();
  const out: N3.Quad[] = [];
  const replaced: N3.Quad[] = [];
  for (const q of quads) {
    if (q.predicate.value !== SH_IN || q.object.termType !== 'BlankNode') continue;
    const nodes: string[] = [];
    const items: string[] = [];
    let node: N3.Term | undefined = q.object;
    while (node && node.termType === 'BlankNode') {
      const f = first.get(node.value);
      if (!f) break;
      nodes.push(node.value);
      const o = f.object as N3.Term & { datatype?: { value: string }; language?: string };
      items.push(`${o.termType}|${o.value}|${o.datatype?.value ?? ''}|${o.language ?? ''}`);
      node = rest.get(node.value)?.object;
    }
    const key = items.join('\u0000');
    const head = canonical.get(key);
    if (!head) canonical.set(key, q.object);
    else if (head.value !== q.object.value) {
      for (const n of nodes) dropNodes.add(n);
      replaced.push(DataFactory.quad(q.subject, q.predicate, head as N3.Quad['object'], q.graph));
    }
  }
  for (const q of quads) {
    if (q.subject.termType === 'BlankNode' && dropNodes.has(q.subject.value)) continue;
    if (q.predicate.value === SH_IN && q.object.termType === 'BlankNode' && dropNodes.has(q.object.value)) continue;
    out.push(q);
  }
  return out.concat(replaced);
}

async function jsonldToQuads(doc: unknown, blankNodePrefix: string): Promise<N3.Quad[]> {
  const jsonld = require('jsonld') as typeof import('jsonld');
  const nquads = (await jsonld.toRDF(doc as never, {
    format: 'application/n-quads',
    documentLoader: offlineDocumentLoader as never,
    safe: false,
  } as never)) as unknown as string;
  return new (n3().Parser)({ format: 'N-Quads', blankNodePrefix }).parse(nquads);
}

/** The shapes graph of a release, parsed and list-deduplicated. */
export async function loadShapes(release: ShapesRelease): Promise<N3.Quad[]> {
  const file = SHAPES_FILES[release];
  if (release === '25.11') {
    const ttl = fs.readFileSync(path.join(GAIAX_SPEC_DIR, file), 'utf8');
    return dedupeInLists(new (n3().Parser)({ format: 'Turtle' }).parse(ttl));
  }
  return dedupeInLists(await jsonldToQuads(specJson(file), 'shapes_'));
}

function classHierarchy(release: ShapesRelease): N3.Quad[] {
  const file = CLASS_HIERARCHY[release];
  if (!file) return [];
  return new (n3().Parser)({ format: 'Turtle' }).parse(fs.readFileSync(path.join(GAIAX_SPEC_DIR, file), 'utf8'));
}

/** Prepared validators, one per release, built on first use and kept. */
const validators = new Map<ShapesRelease, Promise<{ validator: Validator; hierarchy: N3.Quad[] }>>();

export function isPrepared(release: ShapesRelease): boolean {
  return validators.has(release);
}

export function prepare(release: ShapesRelease): Promise<{ validator: Validator; hierarchy: N3.Quad[] }> {
  let ready = validators.get(release);
  if (!ready) {
    ready = (async () => {
      const shapes = await loadShapes(release);
      const mod = (await import('rdf-validate-shacl')) as unknown as { default: new (shapes: unknown) => Validator };
      const store = new (n3().Store)(shapes);
      return { validator: new mod.default(store), hierarchy: classHierarchy(release) };
    })();
    ready.catch(() => validators.delete(release));
    validators.set(release, ready);
  }
  return ready;
}

const termLabel = (t: { value: string; termType: string } | null): string | null =>
  t === null ? null : t.termType === 'BlankNode' ? `_:${t.value}` : t.value;

/**
 * Validates JSON-LD documents (credentials without proofs) together as one data graph. Blank nodes of each document
 * are kept apart; named graphs are merged into the default graph.
 */
export async function validateDocuments(release: ShapesRelease, documents: unknown[]): Promise<ShaclReport> {
  const { validator, hierarchy } = await prepare(release);
  const { Store, DataFactory } = n3();
  const data = new Store();
  for (const [i, doc] of documents.entries()) {
    for (const q of await jsonldToQuads(doc, `c${i}_`)) data.addQuad(DataFactory.quad(q.subject, q.predicate, q.object));
  }
  const triples = data.size;
  data.addQuads(hierarchy);
  const report = await validator.validate(data);
  return {
    release,
    conforms: report.conforms,
    triples,
    results: report.results.map((r) => ({
      focusNode: termLabel(r.focusNode) ?? '',
      path: termLabel(r.path),
      message: r.message.map((m) => m.value).join('; ') || (r.sourceConstraintComponent?.value.replace(/^.*#/, '') ?? 'violation'),
      severity: r.severity?.value.replace(/^.*#/, '') ?? 'Violation',
      constraint: r.sourceConstraintComponent?.value.replace(/^.*#/, '') ?? '',
      shape: termLabel(r.sourceShape),
      value: termLabel(r.value),
    })),
  };
}

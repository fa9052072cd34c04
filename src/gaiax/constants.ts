/**
 * Gaia-X constants shared by the producer, the verifier and the SHACL worker. Light: no heavy imports, so that
 * modules which only need a path or a URL do not pull JSON-LD or SHACL into the connector.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * spec/gaiax of the package: two levels up from src/gaiax (ts-jest) and dist/gaiax; further up from other build
 * directories (the benchmark build puts this file in .bench/src/gaiax).
 */
export const GAIAX_SPEC_DIR = ((): string => {
  let dir = path.resolve(__dirname, '..', '..');
  for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'spec', 'gaiax', 'loire'))) return path.join(dir, 'spec', 'gaiax');
  }
  return path.resolve(__dirname, '..', '..', 'spec', 'gaiax');
})();

export const CREDENTIALS_V1 = 'https://www.w3.org/2018/credentials/v1';
export const CREDENTIALS_V2 = 'https://www.w3.org/ns/credentials/v2';
export const JWS2020_CONTEXT = 'https://w3id.org/security/suites/jws-2020/v1';
/** Loire (24.x/25.x) vocabulary; also used as the JSON-LD context URL by notaries and the compliance service. */
export const GX_LOIRE = 'https://w3id.org/gaia-x/development#';
/** Tagus (22.10) vocabulary; the URL is also the JSON-LD context (it serves @context and the SHACL @graph). */
export const GX_2210 = 'https://registry.lab.gaia-x.eu/development/api/trusted-shape-registry/v1/shapes/jsonld/trustframework#';

export type ShapesRelease = '25.11' | '22.10';
export type SelfDescriptionFormat = 'loire' | '22.10';

/** Public paths of the served self-description (stable: credential ids are baked into signatures). */
export const SELF_DESCRIPTION_PATH = '/gaiax/self-description';
export const CREDENTIALS_PATH = '/gaiax/credentials';

/** Registration-number classes of the Loire ontology (notary credentials carry one of them). */
export const LOIRE_REGISTRATION_TYPES = ['VatID', 'LeiCode', 'EORI', 'EUID', 'TaxID', 'LocalRegistrationNumber'] as const;

/** Allowed clock skew when checking validity dates (NOTES §10.14). */
export const CLOCK_SKEW_MS = 60_000;

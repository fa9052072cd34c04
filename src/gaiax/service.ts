/**
 * The connector side of Gaia-X: the served self-description (signed on demand, cached by a revision of catalog and
 * identity, re-signed when either changes or after an hour), the verifier wired to the configuration, and the
 * express router of the public URLs. This module is light on purpose: producer, verifier, JSON-LD and SHACL are
 * loaded on first use, so a connector that never serves or verifies a self-description pays nothing for them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { X509Certificate } from 'node:crypto';
import type { Router } from 'express';
import { expressLib } from '../lazy';
import type { HedgerowConfig } from '../config/schema';
import type { Store } from '../store/store';
import type { CatalogService } from '../catalog/catalog-service';
import type { ConnectorIdentity } from '../identity/identity';
import { ConfigError, HedgerowError } from '../errors';
import { jwsAlgorithmFor, readCertificatesPem, type CertStore } from '../pki';
import { DSP_BASE_PATH } from '../protocol/dsp/paths';
import { CREDENTIALS_PATH, SELF_DESCRIPTION_PATH, type SelfDescriptionFormat } from './constants';
import type { Json, Jws2020Flavour } from './jws';
import type { ProducerIdentity, PublishedDataset, SelfDescription } from './producer';
import type { DidResolverOptions, FetchGuard } from './did-resolver';
import type { VerificationReport } from './verifier';
import type { ResultSigner } from './result-credential';

/* eslint-disable @typescript-eslint/no-require-imports */
const producer = () => require('./producer') as typeof import('./producer');

export interface GaiaxDeps {
  config: HedgerowConfig;
  store: Store;
  catalog: CatalogService;
  /** The current connector identity (changes on certificate renewal). */
  identity: () => ConnectorIdentity;
  /** The current DID document (its verification method id is the kid). */
  didDocument: () => Promise<Record<string, unknown>>;
  publicUrl: string;
  /** For the verifier: trust anchors (unless gaiax.trustAnchorsDir) ... */
  certStore?: CertStore;
  /** ... and the SSRF guard for did:web and x5u fetches named by untrusted credentials. */
  guard?: FetchGuard;
}

/** Most datasets put into one self-description (each is a signed credential). */
export const MAX_DATASETS = 1000;
const MAX_AGE_MS = 3_600_000;

/** The datasets an anonymous requester sees in the DSP catalog (nothing access-restricted is published). */
export function publicDatasets(catalog: CatalogService, now = new Date()): PublishedDataset[] {
  const out: PublishedDataset[] = [];
  let after: string | undefined;
  for (;;) {
    const page = catalog.page({ now }, after === undefined ? {} : { after }, 500);
    for (const ds of (page.catalog.dataset as Json[] | undefined) ?? []) {
      if (out.length >= MAX_DATASETS) return out;
      out.push({
        id: String(ds['@id']),
        title: (ds['dct:title'] as string | undefined) ?? null,
        description: (ds['dct:description'] as string | undefined) ?? null,
        keywords: (ds['dcat:keyword'] as string[] | undefined) ?? [],
        offers: (ds.hasPolicy as Json[] | undefined) ?? [],
      });
    }
    if (!page.next) return out;
    after = page.next;
  }
}

/** Cheap fingerprint of everything the self-description is built from (one indexed query per table). */
export function catalogRevision(store: Store): string {
  const row = store.db
    .prepare(
      `SELECT (SELECT count(*) || ':' || coalesce(max(updated_at), '') FROM assets) AS a,
              (SELECT count(*) || ':' || coalesce(max(created_at), '') FROM offers) AS o,
              (SELECT count(*) FROM offer_assets) AS oa,
              (SELECT count(*) || ':' || coalesce(max(created_at), '') FROM policies) AS p`,
    )
    .get() as Record<string, unknown>;
  return `${row.a}|${row.o}|${row.oa}|${row.p}`;
}

export async function producerIdentity(identity: ConnectorIdentity, didDocument: Record<string, unknown>): Promise<ProducerIdentity> {
  const method = ((didDocument.verificationMethod as Json[] | undefined) ?? [])[0];
  if (!method || typeof method.id !== 'string') throw new HedgerowError('DID_DOCUMENT_INVALID', 'the DID document has no verification method');
  return {
    did: identity.did,
    kid: method.id,
    alg: jwsAlgorithmFor(identity.privateKey),
    privateKey: identity.privateKey,
    certificateNotAfter: identity.leaf.notAfter,
  };
}

export function readRegistrationCredential(settings: HedgerowConfig['gaiax']): string | null {
  const file = settings.registrationNumber.credential;
  if (!file) return null;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new HedgerowError('FILE_UNREADABLE', `cannot read gaiax.registrationNumber.credential ${file}: ${(err as NodeJS.ErrnoException).code}`, { exitCode: 66 });
  }
}

/** Builds and signs the self-description of this connector now. */
export async function buildSelfDescription(
  deps: Pick<GaiaxDeps, 'config' | 'catalog' | 'identity' | 'didDocument' | 'publicUrl'>,
  opts: { format?: SelfDescriptionFormat; flavour?: Jws2020Flavour; now?: Date } = {},
): Promise<SelfDescription> {
  const now = opts.now ?? new Date();
  const settings = deps.config.gaiax;
  return producer().createSelfDescription({
    settings,
    ...(opts.format ? { format: opts.format } : {}),
    ...(opts.flavour ? { flavour: opts.flavour } : {}),
    identity: await producerIdentity(deps.identity(), await deps.didDocument()),
    baseUrl: deps.publicUrl.replace(/\/+$/, ''),
    dspUrl: `${deps.publicUrl.replace(/\/+$/, '')}${DSP_BASE_PATH}`,
    datasets: publicDatasets(deps.catalog, now),
    registrationCredential: readRegistrationCredential(settings),
    now,
  });
}

/** The served self-description: signed on demand, reused while catalog and identity are unchanged (max. 1 hour). */
export class SelfDescriptionService {
  private cached: { revision: string; at: number; value: Promise<SelfDescription> } | undefined;

  constructor(private readonly deps: GaiaxDeps) {}

  revision(): string {
    return `${catalogRevision(this.deps.store)}|${this.deps.identity().leaf.fingerprintSha256}`;
  }

  current(): Promise<SelfDescription> {
    const missing = producer().missingSettings(this.deps.config.gaiax);
    if (missing.length) return Promise.reject(new ConfigError(`a Gaia-X self-description needs ${missing.join(', ')}`));
    const revision = this.revision();
    const c = this.cached;
    if (c && c.revision === revision && Date.now() - c.at < MAX_AGE_MS) return c.value;
    const value = buildSelfDescription(this.deps);
    this.cached = { revision, at: Date.now(), value };
    value.catch(() => {
      if (this.cached?.value === value) this.cached = undefined;
    });
    return value;
  }
}

/** Public routes: the presentation at SELF_DESCRIPTION_PATH and each credential at its id. */
export function createSelfDescriptionRouter(service: () => SelfDescriptionService): Router {
  const router = expressLib().Router();
  const send = (res: import('express').Response, doc: { contentType: string; body: string }) =>
    res.set({ 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache' }).type(doc.contentType).send(doc.body);
  const load = async () => {
    try {
      return await service().current();
    } catch (err) {
      if (err instanceof HedgerowError && err.code === 'CONFIG_INVALID') {
        throw new HedgerowError('GAIAX_NOT_CONFIGURED', 'this connector publishes no Gaia-X self-description', { httpStatus: 404 });
      }
      throw err;
    }
  };
  router.get(SELF_DESCRIPTION_PATH, async (_req, res) => {
    send(res, (await load()).presentation);
  });
  router.get(`${CREDENTIALS_PATH}/:name`, async (req, res) => {
    const sd = await load();
    const doc = sd.credentials.find((c) => c.name === req.params.name);
    if (!doc) throw new HedgerowError('NOT_FOUND', `no credential ${req.params.name}`, { httpStatus: 404 });
    send(res, doc);
  });
  return router;
}

// ---------------------------------------------------------------------------------------------------------------
// Verifier wiring

/** Every PEM certificate in the *.pem / *.crt files of a directory. */
export function readAnchorsDir(dir: string): X509Certificate[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new HedgerowError('FILE_UNREADABLE', `cannot read the trust anchor directory ${dir}: ${(err as NodeJS.ErrnoException).code}`, { exitCode: 66 });
  }
  return names
    .filter((n) => /\.(pem|crt)$/i.test(n))
    .sort()
    .flatMap((n) => readCertificatesPem(fs.readFileSync(path.join(dir, n), 'utf8')));
}

export interface VerifyRequest {
  input: string | Json;
  didDocuments?: Json[];
  chains?: X509Certificate[][];
  /** Overrides gaiax.trustAnchorsDir and the connector's trust anchors. */
  anchorsDir?: string;
  offline?: boolean;
  extraTrustedNotaries?: string[];
  resultSigner?: ResultSigner;
  now?: Date;
  /** Extra TLS roots for did:web fetches. */
  extraCa?: string[];
  fetchText?: DidResolverOptions['fetchText'];
}

export function verifierAnchors(config: HedgerowConfig, certStore: CertStore | undefined, anchorsDir?: string): X509Certificate[] {
  const dir = anchorsDir ?? config.gaiax.trustAnchorsDir;
  if (dir) return readAnchorsDir(dir);
  return certStore?.trustAnchors() ?? [];
}

/** Runs the verifier with the configuration's trust anchors, trusted notaries/issuers and offline cache. */
export async function verifyWithConfig(
  deps: { config: HedgerowConfig; certStore?: CertStore; guard?: FetchGuard },
  req: VerifyRequest,
): Promise<VerificationReport> {
  const { DidResolver } = require('./did-resolver') as typeof import('./did-resolver');
  const { verifySelfDescription } = require('./verifier') as typeof import('./verifier');
  const { sharedShaclPool } = require('./shacl') as typeof import('./shacl');
  const resolver = new DidResolver({
    didDocuments: req.didDocuments ?? [],
    chains: req.chains ?? [],
    cacheDir: path.join(deps.config.dataDir, 'gaiax-cache'),
    offline: req.offline ?? false,
    ...(req.extraCa ? { extraCa: req.extraCa } : {}),
    ...(deps.guard ? { guard: deps.guard } : {}),
    ...(req.fetchText ? { fetchText: req.fetchText } : {}),
  });
  try {
    return await verifySelfDescription(req.input, {
      resolver,
      anchors: verifierAnchors(deps.config, deps.certStore, req.anchorsDir),
      settings: {
        trustedNotaries: [...deps.config.gaiax.trustedNotaries, ...(req.extraTrustedNotaries ?? [])],
        trustedIssuers: deps.config.gaiax.trustedIssuers,
      },
      shacl: sharedShaclPool({ idleMs: deps.config.gaiax.shapesIdleSeconds * 1000 }),
      ...(req.now ? { now: req.now } : {}),
      ...(req.resultSigner ? { resultSigner: req.resultSigner } : {}),
    });
  } finally {
    await resolver.close();
  }
}

/** The verifier's own signing identity for result credentials. */
export async function resultSignerFor(identity: ConnectorIdentity, didDocument: Record<string, unknown>, validityDays: number): Promise<ResultSigner> {
  const p = await producerIdentity(identity, didDocument);
  return { did: p.did, kid: p.kid, alg: p.alg, privateKey: p.privateKey, validityDays };
}

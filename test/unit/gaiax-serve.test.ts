/**
 * The served self-description (public router, re-signed when the catalog changes), the management verify route,
 * did:web over HTTPS with the offline cache, and the SHACL worker's shapes handling.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { CertStore, certificateToPem, privateKeyToPem } from '../../src/pki';
import { Store } from '../../src/store/store';
import { CatalogService } from '../../src/catalog/catalog-service';
import { IdentityHolder } from '../../src/server/identity-holder';
import { createPublicApp } from '../../src/server/public-app';
import { createLogger } from '../../src/log/logger';
import type { Metrics } from '../../src/health/metrics';
import type { HedgerowConfig } from '../../src/config/schema';
import { DEFAULT_CONFIG_FILE } from '../../src/config/load';
import { gaiaxManagementRoutes } from '../../src/gaiax/management';
import { decodeCompactJws, type Json } from '../../src/gaiax/jws';
import { DidResolver, didWebUrl } from '../../src/gaiax/did-resolver';
import { verifySelfDescription } from '../../src/gaiax/verifier';
import { ShaclPool, sharedShaclPool } from '../../src/gaiax/shacl';
import { dedupeInLists, loadShapes } from '../../src/gaiax/shacl-core';
import { gaiaxSettings, makeCa, makeParticipant, type Participant } from '../fixtures/gaiax/helpers';

const logger = createLogger({ level: 'error', write: () => undefined });
const noMetrics = { httpMiddleware: () => (_req: unknown, _res: unknown, next: () => void) => next() } as unknown as Metrics;

let dir: string;
let ca: ReturnType<typeof makeCa>;
let farm: Participant;
let config: HedgerowConfig;
let store: Store;
let server: http.Server;
let base: string;

async function get(pathname: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${base}${pathname}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-gaiax-serve-'));
  ca = makeCa();
  farm = await makeParticipant(ca, 'farm.example');
  const certStore = new CertStore(path.join(dir, 'certs'));
  certStore.saveIdentity(farm.privateKey, farm.chain);
  certStore.addTrustAnchor(ca.certificate);
  const defaults = JSON.parse(fs.readFileSync(DEFAULT_CONFIG_FILE, 'utf8')) as HedgerowConfig;
  config = { ...defaults, dataDir: path.join(dir, 'data'), certsDir: certStore.certsDir, gaiax: gaiaxSettings({ trustedNotaries: [farm.did] }) };
  fs.mkdirSync(config.dataDir);
  store = Store.open(config.dataDir);
  const publicUrl = 'https://farm.example';
  const identity = new IdentityHolder(certStore, publicUrl, logger);
  const catalog = new CatalogService({ store, participantId: () => farm.did, dspBaseUrl: () => `${publicUrl}/dsp/2025-1`, pageSize: 100 });
  const app = createPublicApp({ identity, metrics: noMetrics, logger, gaiax: { config, store, catalog, publicUrl } });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  store.close();
  await sharedShaclPool().close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('served self-description', () => {
  it('serves a VP-JWT that verifies, and each credential at its id', async () => {
    const vp = await get('/gaiax/self-description');
    expect(vp.status).toBe(200);
    expect(vp.type).toMatch(/^application\/vp\+jwt/);
    const report = await verifySelfDescription(vp.body, {
      resolver: new DidResolver({ didDocuments: [farm.didDocument], offline: true }),
      anchors: [ca.certificate],
      settings: { trustedNotaries: [farm.did], trustedIssuers: [] },
    });
    expect(report.steps.filter((s) => s.status === 'FAIL')).toEqual([]);
    const lp = await get('/gaiax/credentials/legal-person');
    expect(lp.type).toMatch(/^application\/vc\+jwt/);
    expect(decodeCompactJws(lp.body).payload.id).toBe('https://farm.example/gaiax/credentials/legal-person');
    expect((await get('/gaiax/credentials/nope')).status).toBe(404);
  });

  it('is cached while nothing changes and re-signed when the catalog changes', async () => {
    const first = (await get('/gaiax/self-description')).body;
    expect((await get('/gaiax/self-description')).body).toBe(first);
    store.assets.insert({ id: 'soil-2026', title: 'Soil', description: null, keywords: [], contentType: 'text/csv', originator: null, source: { type: 'file', path: '/srv/soil.csv' } });
    store.policies.insert({ id: 'open', title: null, policy: { permission: [{ action: 'use' }] } as never });
    store.offers.insert({ id: 'o1', accessPolicyId: 'open', contractPolicyId: 'open', assetIds: ['soil-2026'] });
    const second = (await get('/gaiax/self-description')).body;
    expect(second).not.toBe(first);
    const names = (decodeCompactJws(second).payload.verifiableCredential as Json[]).map((e) => decodeCompactJws(String(e.id).split(',')[1]!).payload.id);
    expect(names).toContain('https://farm.example/gaiax/credentials/dataset-soil-2026');
    expect((await get('/gaiax/credentials/dataset-soil-2026')).status).toBe(200);
  });

  it('answers 404 when the connector has no Gaia-X configuration', async () => {
    const app = createPublicApp({
      identity: { current: { did: farm.did }, didDocument: async () => farm.didDocument } as never,
      metrics: noMetrics,
      logger,
      gaiax: { config: { ...config, gaiax: { ...config.gaiax, legalName: null } }, store, catalog: {} as never, publicUrl: 'https://farm.example' },
    });
    const s = http.createServer(app);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/gaiax/self-description`).catch((e: Error) => e);
    await new Promise((r) => s.close(r));
    expect(res instanceof Error ? res.message : res.status).toBe(404);
  });
});

describe('management route POST /gaiax/verify', () => {
  it('verifies with the configured trust anchors and notaries, optionally signing a result credential', async () => {
    const vp = (await get('/gaiax/self-description')).body;
    const [route] = gaiaxManagementRoutes({
      config,
      certStore: new CertStore(config.certsDir),
      identity: () => ({ did: farm.did, privateKey: farm.privateKey, leaf: { notAfter: new Date(farm.chain[0]!.validTo) } }) as never,
      didDocument: async () => farm.didDocument,
    });
    expect(route).toMatchObject({ method: 'post', path: '/gaiax/verify' });
    const report = (await route!.handler({ body: { presentation: vp, didDocuments: [farm.didDocument], offline: true, emitResult: true }, params: {}, query: {} })) as Json;
    expect(report.ok).toBe(true);
    expect(typeof report.resultCredential).toBe('string');
    const [missing] = gaiaxManagementRoutes(undefined);
    await expect(Promise.resolve().then(() => missing!.handler({ body: { presentation: vp }, params: {}, query: {} }))).rejects.toMatchObject({ code: 'GAIAX_NOT_ENABLED', httpStatus: 503 });
  });
});

describe('did:web resolution', () => {
  it('maps did:web to https URLs', () => {
    expect(didWebUrl('did:web:farm.example')).toBe('https://farm.example/.well-known/did.json');
    expect(didWebUrl('did:web:farm.example%3A8443')).toBe('https://farm.example:8443/.well-known/did.json');
    expect(didWebUrl('did:web:coop.example:members:farm1')).toBe('https://coop.example/members/farm1/did.json');
    expect(() => didWebUrl('did:key:z6Mk')).toThrow(/not a did:web/);
    expect(() => didWebUrl('did:web:coop.example:..')).toThrow(/invalid path/);
  });

  it('fetches over HTTPS, keeps an offline cache, and refuses documents with another id', async () => {
    const tlsLeaf = await makeParticipant(ca, 'localhost');
    const app = express();
    let served: Json = { ...farm.didDocument, id: 'did:web:localhost%3APORT' };
    app.get('/.well-known/did.json', (_req, res) => res.json(served));
    const s = https.createServer({ key: privateKeyToPem(tlsLeaf.privateKey), cert: certificateToPem(tlsLeaf.chain[0]!) }, app);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    const did = `did:web:localhost%3A${port}`;
    served = { ...farm.didDocument, id: did };
    const cacheDir = path.join(dir, 'did-cache');
    try {
      const online = new DidResolver({ cacheDir, extraCa: [certificateToPem(ca.certificate)] });
      expect(await online.resolve(did)).toMatchObject({ source: 'https', document: { id: did } });
      await online.close();
      const offline = new DidResolver({ cacheDir, offline: true });
      expect(await offline.resolve(did)).toMatchObject({ source: 'cache', document: { id: did } });
      served = { ...farm.didDocument, id: 'did:web:evil.example' };
      const fresh = new DidResolver({ extraCa: [certificateToPem(ca.certificate)] });
      await expect(fresh.resolve(did)).rejects.toMatchObject({ code: 'DID_DOCUMENT_INVALID' });
      await fresh.close();
      // Without our CA the TLS certificate is not trusted: unresolvable.
      const untrusted = new DidResolver({});
      await expect(untrusted.resolve(did)).rejects.toMatchObject({ code: 'DID_UNRESOLVABLE' });
      await untrusted.close();
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});

describe('SHACL shapes', () => {
  it('merges the repeated sh:in lists of the 25.11 shapes without losing a constraint', async () => {
    const { Parser } = require('n3') as typeof import('n3');
    const raw = new Parser().parse(fs.readFileSync(path.join(__dirname, '..', '..', 'spec', 'gaiax', 'loire', 'gx.shacl.25.11.ttl'), 'utf8'));
    const merged = await loadShapes('25.11');
    expect(raw.length).toBe(164_702);
    expect(merged.length).toBeLessThan(35_000);
    const inCount = (qs: typeof raw) => qs.filter((q) => q.predicate.value === 'http://www.w3.org/ns/shacl#in').length;
    expect(inCount(merged)).toBe(inCount(raw));
    expect(dedupeInLists(merged).length).toBe(merged.length);
  });

  it('prepares the shapes once per worker and ends the worker when idle', async () => {
    const pool = new ShaclPool({ idleMs: 200 });
    expect(await pool.warm('25.11')).toEqual({ preparedNow: true });
    expect(await pool.warm('25.11')).toEqual({ preparedNow: false });
    expect(pool.running).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(pool.running).toBe(false);
    // A new worker starts without the shapes: the idle end did return their memory.
    expect(await pool.warm('25.11')).toEqual({ preparedNow: true });
    await pool.close();
  });
});

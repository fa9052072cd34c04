/**
 * did:web resolution and certificate chains for the verifier (NOTES §2, §7 stage B/C):
 * - did:web → https URL (port as %3A, path segments with ':', /.well-known/did.json without a path); HTTPS only;
 * - sources, in order: DID documents given as files, an in-memory cache (5 minutes, like the compliance service),
 *   the offline cache directory, then HTTPS (unless offline); fetched documents are written to the offline cache;
 * - chains: files given by the operator (matched to the JWK by the leaf key), `x5c`, then `x5u` (cache, HTTPS).
 * Fetches have a timeout and a size cap, never follow redirects, and go through an optional SSRF guard.
 */
import crypto, { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { LookupFunction } from 'node:net';
import { readCertificatesPem } from '../pki';
import type { Json } from './jws';

export interface FetchGuard {
  checkUrl(url: string, what: string): URL;
  lookup(): LookupFunction;
}

export interface DidResolverOptions {
  /** DID documents given as files (matched by their `id`). */
  didDocuments?: Json[];
  /** Certificate chains given as files, leaf first (matched to a JWK by the leaf's public key). */
  chains?: X509Certificate[][];
  /** Directory of the offline cache (DID documents and x5u chains); null: none. */
  cacheDir?: string | null;
  /** Never use the network. */
  offline?: boolean;
  /** Extra TLS roots (PEM) besides the system ones, for HTTPS fetches. */
  extraCa?: string[];
  guard?: FetchGuard;
  timeoutMs?: number;
  /** Replaces the HTTPS fetch (tests). */
  fetchText?: (url: string) => Promise<string>;
  memoryTtlMs?: number;
}

export class ResolutionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BYTES = 1024 * 1024;

function parseDidWeb(did: string): { host: string; segments: string[] } {
  const m = /^did:web:([^:#?/]+)((?::[^:#?/]+)*)$/.exec(did);
  if (!m) throw new ResolutionError('DID_NOT_WEB', `${did} is not a did:web identifier`);
  const host = decodeURIComponent(m[1]!);
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host) && !/^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(host)) {
    throw new ResolutionError('DID_NOT_WEB', `${did} does not name a valid host`);
  }
  const segments = m[2] ? m[2].slice(1).split(':').map(decodeURIComponent) : [];
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('/'))) throw new ResolutionError('DID_NOT_WEB', `${did} has an invalid path`);
  return { host, segments };
}

/** https URL of the DID document of a did:web. */
export function didWebUrl(did: string): string {
  const { host, segments } = parseDidWeb(did);
  return segments.length ? `https://${host}/${segments.map(encodeURIComponent).join('/')}/did.json` : `https://${host}/.well-known/did.json`;
}

/** The host a did:web names, without port and IPv6 brackets: the name its key's certificate must carry. */
export function didWebHost(did: string): string {
  return parseDidWeb(did).host.replace(/:\d{1,5}$/, '').replace(/^\[(.*)\]$/, '$1');
}

/** The DID part of a DID URL (before '#', '?', '/'). */
export function didOf(didUrl: string): string {
  return didUrl.replace(/[#?].*$/, '');
}

/** SubjectPublicKeyInfo DER of a public JWK (throws on private or malformed keys). */
export function jwkToKey(jwk: Json): KeyObject {
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    if (member in jwk) throw new Error(`the JWK contains the private member "${member}"`);
  }
  return createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
}

const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
const hash = (s: string) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 32);

export class DidResolver {
  private readonly memory = new Map<string, { at: number; value: unknown }>();
  private agent: unknown;

  constructor(private readonly opts: DidResolverOptions = {}) {}

  /** Resolves a did:web to its DID document; `source` says where it came from. */
  async resolve(did: string): Promise<{ document: Json; source: string }> {
    // Given documents too: only a did:web names a host for the verifier to bind the key's certificate to.
    const url = didWebUrl(did);
    const given = this.opts.didDocuments?.find((d) => d.id === did);
    if (given) return { document: given, source: 'file' };
    const { text, source } = await this.load(url, 'did', 'DID document');
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw new ResolutionError('DID_DOCUMENT_INVALID', `the DID document at ${url} is not JSON`);
    }
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      throw new ResolutionError('DID_DOCUMENT_INVALID', `the DID document at ${url} is not a JSON object`);
    }
    if ((document as Json).id !== did) {
      throw new ResolutionError('DID_DOCUMENT_INVALID', `the DID document at ${url} has id ${JSON.stringify((document as Json).id)}, not ${did}`);
    }
    return { document: document as Json, source };
  }

  /** The certificate chain for a JWK, leaf first. */
  async chain(jwk: Json, key: KeyObject): Promise<{ chain: X509Certificate[]; source: string }> {
    const wanted = spki(key);
    const given = this.opts.chains?.find((c) => c[0] && spki(c[0].publicKey).equals(wanted));
    if (given) return { chain: given, source: 'file' };
    if (Array.isArray(jwk.x5c) && jwk.x5c.length) {
      try {
        return { chain: jwk.x5c.map((der) => new X509Certificate(Buffer.from(String(der), 'base64'))), source: 'x5c' };
      } catch {
        throw new ResolutionError('CHAIN_INVALID', 'the x5c of the JWK does not hold DER certificates');
      }
    }
    if (typeof jwk.x5u !== 'string') throw new ResolutionError('CHAIN_MISSING', 'the JWK has neither x5u nor x5c, and no chain file matches its key');
    const { text, source } = await this.load(jwk.x5u, 'x5u', 'certificate chain (x5u)');
    let chain: X509Certificate[];
    try {
      chain = readCertificatesPem(text);
    } catch (err) {
      throw new ResolutionError('CHAIN_INVALID', `the certificate chain at ${jwk.x5u} cannot be read: ${(err as Error).message}`);
    }
    return { chain, source };
  }

  private cacheFile(kind: string, url: string): string | null {
    return this.opts.cacheDir ? path.join(this.opts.cacheDir, kind, `${hash(url)}.${kind === 'did' ? 'json' : 'pem'}`) : null;
  }

  private async load(url: string, kind: 'did' | 'x5u', what: string): Promise<{ text: string; source: string }> {
    const ttl = this.opts.memoryTtlMs ?? 300_000;
    const hit = this.memory.get(url);
    if (hit && Date.now() - hit.at < ttl) return { text: hit.value as string, source: 'memory' };
    const file = this.cacheFile(kind, url);
    if (this.opts.offline) {
      if (file && fs.existsSync(file)) return { text: fs.readFileSync(file, 'utf8'), source: 'cache' };
      throw new ResolutionError(kind === 'did' ? 'DID_UNRESOLVABLE' : 'CHAIN_MISSING', `offline: the ${what} ${url} is neither given as a file nor in the offline cache`);
    }
    let text: string;
    try {
      text = await this.fetchText(url);
    } catch (err) {
      if (file && fs.existsSync(file)) return { text: fs.readFileSync(file, 'utf8'), source: 'cache (network failed)' };
      throw new ResolutionError(kind === 'did' ? 'DID_UNRESOLVABLE' : 'CHAIN_MISSING', `cannot fetch the ${what} ${url}: ${(err as Error).message}`);
    }
    this.memory.set(url, { at: Date.now(), value: text });
    if (file) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        fs.writeFileSync(`${file}.tmp`, text);
        fs.renameSync(`${file}.tmp`, file);
      } catch {
        /* the cache is an optimisation */
      }
    }
    return { text, source: 'https' };
  }

  /** GET an https URL with the resolver's limits (timeout, 1 MB, no redirects, guard, TLS roots). */
  async fetchText(url: string): Promise<string> {
    if (this.opts.fetchText) return this.opts.fetchText(url);
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:') throw new Error('only https is allowed');
    this.opts.guard?.checkUrl(url, 'did:web address');
    const undici = require('undici') as typeof import('undici');
    this.agent ??= new undici.Agent({
      connect: {
        ca: [...tls.rootCertificates, ...(this.opts.extraCa ?? [])],
        timeout: this.opts.timeoutMs ?? 10_000,
        ...(this.opts.guard ? { lookup: this.opts.guard.lookup() } : {}),
      },
      headersTimeout: this.opts.timeoutMs ?? 10_000,
      bodyTimeout: this.opts.timeoutMs ?? 10_000,
      maxResponseSize: MAX_BYTES,
    });
    const res = await undici.request(url, { dispatcher: this.agent as import('undici').Dispatcher, headers: { accept: 'application/did+json, application/json, application/x-pem-file, */*' } });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    return text;
  }

  async close(): Promise<void> {
    await (this.agent as { close?: () => Promise<void> } | undefined)?.close?.();
    this.agent = undefined;
  }
}

import crypto, { X509Certificate, webcrypto, type KeyObject } from 'node:crypto';
import { joseLib } from '../lazy';
import { AuthenticationError, PkiError } from '../errors';
import { certificateInfo, jwsAlgorithmFor, subjectAttributes, validateChain } from '../pki';
import type { SeenTokenRepository } from '../store/repositories/seen-tokens';

/**
 * Peer identity for Dataspace Protocol requests (default scheme): every request carries
 * `Authorization: Bearer <JWT>` signed with the sender's connector key, with its certificate chain in
 * `x5c`. The receiver trusts the chain only if it reaches one of its trust anchors, and takes the
 * participant id from the certificate, never from the message body.
 */

export const TOKEN_LIFETIME_SECONDS = 300;
export const CLOCK_TOLERANCE_SECONDS = 60;
const ALGORITHMS = ['ES256', 'PS256'];

/** Who sent a request, as established by a verifier. */
export interface VerifiedPeer {
  participantId: string;
  scheme: string;
  /** Verified certificate attributes (subject O and C), for policies. */
  organization?: string;
  country?: string;
  certificateFingerprint?: string;
}

export type PeerAuthReason =
  | 'TOKEN_MISSING'
  | 'TOKEN_MALFORMED'
  | 'TOKEN_ALGORITHM'
  | 'TOKEN_UNTRUSTED_CHAIN'
  | 'TOKEN_SIGNATURE'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_LIFETIME'
  | 'TOKEN_AUDIENCE'
  | 'TOKEN_ISSUER_MISMATCH'
  | 'TOKEN_REPLAYED'
  | 'TOKEN_UNKNOWN';

/** A rejected peer token; `code` says exactly why (logged, never sent to the peer beyond a generic line). */
export class PeerAuthError extends AuthenticationError {
  constructor(code: PeerAuthReason, message: string) {
    super(message, code);
  }
}

/** Pluggable: the x5c JWT scheme today; an IDS DAPS token or DCP verifier later. */
export interface PeerVerifier {
  readonly scheme: string;
  verify(authorization: string | undefined, expect: { audience: string }): Promise<VerifiedPeer>;
}

export interface TokenSigner {
  /** A fresh token for one request to `audience` (the recipient's participant id). */
  sign(audience: string): Promise<string>;
}

export interface SigningIdentity {
  participantId: string;
  privateKey: KeyObject;
  chain: X509Certificate[];
}

export class X5cTokenSigner implements TokenSigner {
  constructor(private readonly identity: () => SigningIdentity) {}

  async sign(audience: string): Promise<string> {
    const id = this.identity();
    const now = Math.floor(Date.now() / 1000);
    return new (joseLib().SignJWT)({})
      .setProtectedHeader({ alg: jwsAlgorithmFor(id.privateKey), typ: 'JWT', x5c: id.chain.map((c) => c.raw.toString('base64')) })
      .setIssuer(id.participantId)
      .setSubject(id.participantId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_LIFETIME_SECONDS)
      .setJti(crypto.randomUUID())
      .sign(id.privateKey);
  }
}

/** A WebCrypto key for the certificate's public key, as jose verifies fastest with it. */
async function importKeyFor(cert: X509Certificate): Promise<webcrypto.CryptoKey> {
  const key = cert.publicKey;
  const spki = key.export({ type: 'spki', format: 'der' });
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  }
  if (key.asymmetricKeyType === 'rsa') return webcrypto.subtle.importKey('spki', spki, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['verify']);
  throw new PeerAuthError('TOKEN_ALGORITHM', 'the certificate key is neither P-256 nor RSA: cannot verify ES256/PS256');
}

function bearer(authorization: string | undefined): string {
  if (!authorization) throw new PeerAuthError('TOKEN_MISSING', 'no Authorization header');
  const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!m) throw new PeerAuthError('TOKEN_MALFORMED', 'Authorization header is not "Bearer <token>"');
  return m[1]!;
}

export interface X5cVerifierOptions {
  anchors: () => X509Certificate[];
  seenTokens: SeenTokenRepository;
  now?: () => number;
}

/** What a validated certificate chain yields; cached per chain so every request does not redo it. */
interface TrustedSender {
  participantId: string | null;
  key: webcrypto.CryptoKey;
  organization?: string;
  country?: string;
  fingerprint: string;
  /** The cache entry is re-validated after this time (epoch ms), or when the anchors change. */
  recheckAt: number;
  anchors: X509Certificate[];
}

const SENDER_CACHE_SIZE = 256;
const SENDER_RECHECK_MS = 60_000;

export class X5cTokenVerifier implements PeerVerifier {
  readonly scheme = 'x5c-jwt';
  private readonly senders = new Map<string, TrustedSender>();
  constructor(private readonly opts: X5cVerifierOptions) {}

  /**
   * Validate the x5c chain (the one chain validator) and import the leaf key, or reuse a result less
   * than a minute old for the same chain and the same anchors. Importing the key once matters: jose
   * converts a KeyObject on every verification otherwise.
   */
  private async trustedSender(x5c: string[], nowMs: number): Promise<TrustedSender> {
    const cacheKey = x5c.join('.');
    const anchors = this.opts.anchors();
    const cached = this.senders.get(cacheKey);
    if (cached && cached.recheckAt > nowMs && cached.anchors === anchors) return cached;
    let chain: X509Certificate[];
    try {
      chain = x5c.map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
    } catch {
      throw new PeerAuthError('TOKEN_MALFORMED', 'x5c holds something that is not a certificate');
    }
    try {
      validateChain(chain, { anchors, at: new Date(nowMs) });
    } catch (err) {
      this.senders.delete(cacheKey);
      const why = err instanceof PkiError ? `${err.code}: ${err.message}` : String(err);
      throw new PeerAuthError('TOKEN_UNTRUSTED_CHAIN', `certificate chain rejected (${why})`);
    }
    const leaf = chain[0]!;
    const info = certificateInfo(leaf);
    const attrs = subjectAttributes(leaf);
    const sender: TrustedSender = {
      participantId: info.participantId,
      key: await importKeyFor(leaf),
      ...(attrs.organization ? { organization: attrs.organization } : {}),
      ...(attrs.country ? { country: attrs.country } : {}),
      fingerprint: info.fingerprintSha256,
      // Never trust a cached chain past its leaf's expiry.
      recheckAt: Math.min(nowMs + SENDER_RECHECK_MS, info.notAfter.getTime()),
      anchors,
    };
    if (this.senders.size >= SENDER_CACHE_SIZE) this.senders.delete(this.senders.keys().next().value!);
    this.senders.set(cacheKey, sender);
    return sender;
  }

  async verify(authorization: string | undefined, expect: { audience: string }): Promise<VerifiedPeer> {
    const token = bearer(authorization);
    let header;
    try {
      header = joseLib().decodeProtectedHeader(token);
    } catch {
      throw new PeerAuthError('TOKEN_MALFORMED', 'token is not a JWS');
    }
    if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) {
      throw new PeerAuthError('TOKEN_ALGORITHM', `token algorithm ${String(header.alg)} not accepted (ES256, PS256)`);
    }
    if (!Array.isArray(header.x5c) || header.x5c.length === 0 || header.x5c.length > 10 || !header.x5c.every((c) => typeof c === 'string')) {
      throw new PeerAuthError('TOKEN_MALFORMED', 'token header has no x5c certificate chain');
    }
    const nowMs = this.opts.now?.() ?? Date.now();
    const sender = await this.trustedSender(header.x5c as string[], nowMs);
    let payload;
    try {
      ({ payload } = await joseLib().jwtVerify(token, sender.key, {
        algorithms: ALGORITHMS,
        audience: expect.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(nowMs),
        requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
      }));
    } catch (err) {
      const joseErrors = joseLib().errors;
      if (err instanceof joseErrors.JWTExpired) throw new PeerAuthError('TOKEN_EXPIRED', 'token expired');
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new PeerAuthError('TOKEN_SIGNATURE', 'token signature invalid');
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        if (err.claim === 'aud') throw new PeerAuthError('TOKEN_AUDIENCE', `token audience is not ${expect.audience}`);
        if (err.claim === 'nbf') throw new PeerAuthError('TOKEN_NOT_YET_VALID', 'token not yet valid');
        throw new PeerAuthError('TOKEN_MALFORMED', `token claim ${err.claim}: ${err.reason}`);
      }
      throw new PeerAuthError('TOKEN_MALFORMED', `token rejected: ${(err as Error).message}`);
    }
    const nowSec = Math.floor(nowMs / 1000);
    const iat = Math.floor(payload.iat!);
    const exp = Math.floor(payload.exp!);
    if (iat > nowSec + CLOCK_TOLERANCE_SECONDS) throw new PeerAuthError('TOKEN_NOT_YET_VALID', 'token issued in the future');
    if (exp - iat > TOKEN_LIFETIME_SECONDS) throw new PeerAuthError('TOKEN_LIFETIME', `token lifetime exceeds ${TOKEN_LIFETIME_SECONDS} s`);
    const participantId = sender.participantId;
    if (!participantId || payload.iss !== participantId || payload.sub !== participantId) {
      throw new PeerAuthError('TOKEN_ISSUER_MISMATCH', `token iss/sub ${String(payload.iss)} does not match the certificate's participant id ${participantId ?? '(none)'}`);
    }
    if (typeof payload.jti !== 'string' || payload.jti.length > 200) throw new PeerAuthError('TOKEN_MALFORMED', 'token jti invalid');
    if (!this.opts.seenTokens.remember(`${participantId} ${payload.jti}`, exp + CLOCK_TOLERANCE_SECONDS)) {
      throw new PeerAuthError('TOKEN_REPLAYED', 'token already used (jti replay)');
    }
    return {
      participantId,
      scheme: this.scheme,
      ...(sender.organization ? { organization: sender.organization } : {}),
      ...(sender.country ? { country: sender.country } : {}),
      certificateFingerprint: sender.fingerprint,
    };
  }
}

/**
 * Fixed tokens mapped to participant ids: for conformance testing (the DSP TCK sends one static
 * Authorization value). Refused in production.
 */
export class StaticTokenVerifier implements PeerVerifier {
  readonly scheme = 'static';
  /** A Map of own entries: indexing the config object would let `Bearer constructor` match Object.prototype. */
  private readonly tokens: Map<string, string>;
  constructor(tokens: Record<string, string>) {
    if (process.env.NODE_ENV === 'production') {
      throw new AuthenticationError('the static token scheme is for conformance testing and is refused when NODE_ENV=production', 'STATIC_AUTH_IN_PRODUCTION');
    }
    this.tokens = new Map(Object.entries(tokens).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''));
  }

  async verify(authorization: string | undefined): Promise<VerifiedPeer> {
    if (!authorization) throw new PeerAuthError('TOKEN_MISSING', 'no Authorization header');
    const value = authorization.trim();
    const participantId = this.tokens.get(value) ?? this.tokens.get(value.replace(/^Bearer\s+/i, ''));
    if (!participantId) throw new PeerAuthError('TOKEN_UNKNOWN', 'unknown static token');
    return { participantId, scheme: this.scheme };
  }
}

/** Try the schemes in order; the first that recognises the token decides. */
export class ChainedVerifier implements PeerVerifier {
  readonly scheme: string;
  constructor(private readonly verifiers: PeerVerifier[]) {
    this.scheme = verifiers.map((v) => v.scheme).join('+');
  }

  async verify(authorization: string | undefined, expect: { audience: string }): Promise<VerifiedPeer> {
    let last: unknown;
    for (const v of this.verifiers) {
      try {
        return await v.verify(authorization, expect);
      } catch (err) {
        last = err;
        // A JWT that failed a real check must not fall through to a weaker scheme.
        if (err instanceof PeerAuthError && !['TOKEN_MALFORMED', 'TOKEN_UNKNOWN'].includes(err.code)) throw err;
      }
    }
    throw last;
  }
}

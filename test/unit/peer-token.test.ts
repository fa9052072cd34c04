import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { Store } from '../../src/store/store';
import { createCertificateAuthority, generateKeyPair, issueCertificate } from '../../src/pki';
import { X5cTokenSigner, X5cTokenVerifier, StaticTokenVerifier, ChainedVerifier, PeerAuthError } from '../../src/identity/peer-token';

/** Every way a peer token can be wrong is refused, each with its own reason code. */
describe('peer tokens (x5c JWT)', () => {
  let dir: string;
  let store: Store;
  const ca = createCertificateAuthority({ subject: { commonName: 'Dataspace CA' }, keyType: 'ec', validityDays: 30 });
  const rogueCa = createCertificateAuthority({ subject: { commonName: 'Dataspace CA' }, keyType: 'ec', validityDays: 30 });
  const makePeer = (issuer: typeof ca, participantId: string, keyType: 'ec' | 'rsa' = 'ec') => {
    const { privateKey, publicKey } = generateKeyPair(keyType);
    const cert = issueCertificate({
      subject: { commonName: 'peer', organization: 'Agro Advice', country: 'FR' },
      subjectPublicKey: publicKey,
      issuer,
      profile: 'connector',
      validityDays: 10,
      participantId,
      hostnames: ['peer.example'],
    });
    return { participantId, privateKey, chain: [cert] };
  };
  const peer = makePeer(ca, 'urn:agro');
  const rsaPeer = makePeer(ca, 'urn:ministry', 'rsa');
  const rogue = makePeer(rogueCa, 'urn:agro');
  let verifier: X5cTokenVerifier;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-token-'));
    store = Store.open(dir);
    verifier = new X5cTokenVerifier({ anchors: () => [ca.certificate], seenTokens: store.seenTokens });
  });
  afterAll(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A token like the signer makes, with overridable claims, header and key. */
  async function token(opts: { iat?: number; exp?: number; aud?: string; iss?: string; sub?: string; jti?: string; key?: crypto.KeyObject; chain?: crypto.X509Certificate[]; alg?: string } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const iat = opts.iat ?? now;
    return new SignJWT({})
      .setProtectedHeader({ alg: opts.alg ?? 'ES256', typ: 'JWT', x5c: (opts.chain ?? peer.chain).map((c) => c.raw.toString('base64')) })
      .setIssuer(opts.iss ?? peer.participantId)
      .setSubject(opts.sub ?? opts.iss ?? peer.participantId)
      .setAudience(opts.aud ?? 'urn:coop')
      .setIssuedAt(iat)
      .setExpirationTime(opts.exp ?? iat + 300)
      .setJti(opts.jti ?? crypto.randomUUID())
      .sign(opts.key ?? peer.privateKey);
  }

  const rejects = async (authorization: string | undefined, code: string) => {
    const err = await verifier.verify(authorization, { audience: 'urn:coop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerAuthError);
    expect((err as PeerAuthError).code).toBe(code);
    expect((err as PeerAuthError).httpStatus).toBe(401);
  };

  it('accepts tokens from the signer for EC and RSA keys, with verified certificate attributes', async () => {
    for (const p of [peer, rsaPeer]) {
      const t = await new X5cTokenSigner(() => p).sign('urn:coop');
      const verified = await verifier.verify(`Bearer ${t}`, { audience: 'urn:coop' });
      expect(verified).toMatchObject({ participantId: p.participantId, organization: 'Agro Advice', country: 'FR', scheme: 'x5c-jwt' });
    }
  });

  it('refuses a missing or malformed Authorization header', async () => {
    await rejects(undefined, 'TOKEN_MISSING');
    await rejects('Basic abc', 'TOKEN_MALFORMED');
    await rejects('Bearer not.a.jwt', 'TOKEN_MALFORMED');
  });

  it('refuses an expired token and one issued in the future (60 s tolerance, whole seconds)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejects(`Bearer ${await token({ iat: now - 400, exp: now - 100 })}`, 'TOKEN_EXPIRED');
    await rejects(`Bearer ${await token({ iat: now + 120, exp: now + 300 })}`, 'TOKEN_NOT_YET_VALID');
    // 30 s of skew either way is tolerated.
    await expect(verifier.verify(`Bearer ${await token({ iat: now + 30, exp: now + 300 })}`, { audience: 'urn:coop' })).resolves.toBeDefined();
    await expect(verifier.verify(`Bearer ${await token({ iat: now - 320, exp: now - 20 })}`, { audience: 'urn:coop' })).resolves.toBeDefined();
  });

  it('refuses a token living longer than 5 minutes', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejects(`Bearer ${await token({ iat: now, exp: now + 3600 })}`, 'TOKEN_LIFETIME');
  });

  it('refuses a token for another audience', async () => {
    await rejects(`Bearer ${await token({ aud: 'urn:someone-else' })}`, 'TOKEN_AUDIENCE');
  });

  it('refuses a chain from an untrusted CA even with the same CA name', async () => {
    await rejects(`Bearer ${await token({ chain: rogue.chain, key: rogue.privateKey })}`, 'TOKEN_UNTRUSTED_CHAIN');
  });

  it('refuses iss/sub that differ from the certificate participant id', async () => {
    await rejects(`Bearer ${await token({ iss: 'urn:coop' })}`, 'TOKEN_ISSUER_MISMATCH');
  });

  it('refuses a tampered signature or a key that does not match the certificate', async () => {
    const t = await token();
    const [h, p, s] = t.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.iss = payload.sub = 'urn:ministry';
    await rejects(`Bearer ${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, 'TOKEN_SIGNATURE');
    await rejects(`Bearer ${await token({ key: generateKeyPair('ec').privateKey })}`, 'TOKEN_SIGNATURE');
  });

  it('refuses algorithms other than ES256/PS256, including none', async () => {
    const t = await token();
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', x5c: [peer.chain[0]!.raw.toString('base64')] })).toString('base64url')}.${t.split('.')[1]}.`;
    await rejects(`Bearer ${none}`, 'TOKEN_ALGORITHM');
  });

  it('refuses a replayed jti while the token is valid', async () => {
    const t = await token({ jti: 'once' });
    await verifier.verify(`Bearer ${t}`, { audience: 'urn:coop' });
    await rejects(`Bearer ${t}`, 'TOKEN_REPLAYED');
  });

  it('maps static tokens only when configured, and refuses the static scheme in production', async () => {
    const chained = new ChainedVerifier([verifier, new StaticTokenVerifier({ 'tck-token': 'TCK_PARTICIPANT' })]);
    await expect(chained.verify('tck-token', { audience: 'urn:coop' })).resolves.toMatchObject({ participantId: 'TCK_PARTICIPANT', scheme: 'static' });
    // A JWT that fails a real check never falls through to the static scheme.
    const expired = await token({ iat: 1000, exp: 1200 });
    await expect(chained.verify(`Bearer ${expired}`, { audience: 'urn:coop' })).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    // Only the configured entries count, never Object.prototype members.
    for (const h of ['Bearer constructor', '__proto__', 'Bearer toString', 'hasOwnProperty', 'Bearer valueOf']) {
      await expect(chained.verify(h, { audience: 'urn:coop' })).rejects.toMatchObject({ code: 'TOKEN_UNKNOWN' });
    }
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() => new StaticTokenVerifier({ a: 'b' })).toThrow(/refused when NODE_ENV=production/);
    } finally {
      process.env.NODE_ENV = before;
    }
  });
});

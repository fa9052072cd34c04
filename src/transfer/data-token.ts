import crypto, { webcrypto, type KeyObject } from 'node:crypto';
import { AuthenticationError } from '../errors';
import { joseLib } from '../lazy';
import { jwsAlgorithmFor } from '../pki';

/**
 * Pull tokens: short-lived JWTs the provider signs with its connector key and hands to the consumer
 * in the DataAddress of TransferStartMessage. Bound to one transfer, its agreement and the consumer
 * participant. They prove only who may ask: every data request also checks that the transfer is
 * STARTED and the agreement still active, so suspension, termination, completion or revocation make
 * a token useless at once.
 */
export const DATA_TOKEN_TYPE = 'hedgerow-data+jwt';

export interface DataTokenClaims {
  transferId: string;
  agreementId: string;
  consumerId: string;
  expiresAt: number;
}

export async function signDataToken(
  signer: { participantId: string; privateKey: KeyObject },
  claims: { transferId: string; agreementId: string; consumerId: string; lifetimeSeconds: number },
): Promise<{ token: string; expiresAt: number }> {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + claims.lifetimeSeconds;
  const token = await new (joseLib().SignJWT)({ tid: claims.transferId, agr: claims.agreementId })
    .setProtectedHeader({ alg: jwsAlgorithmFor(signer.privateKey), typ: DATA_TOKEN_TYPE })
    .setIssuer(signer.participantId)
    .setAudience(signer.participantId)
    .setSubject(claims.consumerId)
    .setIssuedAt(now)
    .setExpirationTime(expiresAt)
    .setJti(crypto.randomUUID())
    .sign(signer.privateKey);
  return { token, expiresAt };
}

/** Verifies pull tokens against our own key (imported once per key). */
export class DataTokenVerifier {
  private cached: { key: KeyObject; crypto: Promise<webcrypto.CryptoKey> } | undefined;

  constructor(private readonly self: () => { participantId: string; publicKey: KeyObject }) {}

  private cryptoKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
    if (this.cached?.key !== key) {
      const spki = key.export({ type: 'spki', format: 'der' });
      const algorithm = key.asymmetricKeyType === 'ec' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSA-PSS', hash: 'SHA-256' };
      this.cached = { key, crypto: webcrypto.subtle.importKey('spki', spki, algorithm, false, ['verify']) };
    }
    return this.cached.crypto;
  }

  /** Claims of a valid token; AuthenticationError (401) for a missing, forged or expired one. */
  async verify(authorization: string | undefined): Promise<DataTokenClaims> {
    const m = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization.trim()) : null;
    if (!m) throw new AuthenticationError('a pull token is required: Authorization: Bearer <token from the DataAddress>', 'DATA_TOKEN_MISSING');
    const self = this.self();
    try {
      const { payload, protectedHeader } = await joseLib().jwtVerify(m[1]!, await this.cryptoKey(self.publicKey), {
        issuer: self.participantId,
        audience: self.participantId,
        algorithms: ['ES256', 'PS256'],
        requiredClaims: ['sub', 'exp', 'tid', 'agr'],
      });
      if (protectedHeader.typ !== DATA_TOKEN_TYPE) throw new Error('not a pull token');
      return { transferId: String(payload.tid), agreementId: String(payload.agr), consumerId: String(payload.sub), expiresAt: payload.exp! };
    } catch (err) {
      const expired = err instanceof joseLib().errors.JWTExpired;
      throw new AuthenticationError(expired ? 'pull token expired: refresh it while the transfer is STARTED' : 'pull token invalid', expired ? 'DATA_TOKEN_EXPIRED' : 'DATA_TOKEN_INVALID');
    }
  }
}

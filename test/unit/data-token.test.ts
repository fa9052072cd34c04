import { generateKeyPair } from '../../src/pki';
import { DataTokenVerifier, signDataToken } from '../../src/transfer/data-token';

/** Pull tokens: ours, unexpired, for the claimed transfer; everything else is a 401 with a reason code. */
describe('pull tokens', () => {
  const { privateKey, publicKey } = generateKeyPair('ec');
  const self = { participantId: 'did:web:coop.example', privateKey, publicKey };
  const verifier = new DataTokenVerifier(() => self);
  const claims = { transferId: 'urn:uuid:t1', agreementId: 'urn:uuid:a1', consumerId: 'did:web:agro.example' };

  it('round-trips the bound transfer, agreement and consumer', async () => {
    const { token } = await signDataToken(self, { ...claims, lifetimeSeconds: 60 });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject(claims);
  });

  it('refuses expired, missing, foreign and non-pull tokens', async () => {
    const expired = await signDataToken(self, { ...claims, lifetimeSeconds: -5 });
    await expect(verifier.verify(`Bearer ${expired.token}`)).rejects.toMatchObject({ code: 'DATA_TOKEN_EXPIRED', httpStatus: 401 });
    await expect(verifier.verify(undefined)).rejects.toMatchObject({ code: 'DATA_TOKEN_MISSING', httpStatus: 401 });
    const other = generateKeyPair('ec');
    const foreign = await signDataToken({ participantId: self.participantId, privateKey: other.privateKey }, { ...claims, lifetimeSeconds: 60 });
    await expect(verifier.verify(`Bearer ${foreign.token}`)).rejects.toMatchObject({ code: 'DATA_TOKEN_INVALID' });
    const impostor = await signDataToken({ participantId: 'did:web:evil.example', privateKey }, { ...claims, lifetimeSeconds: 60 });
    await expect(verifier.verify(`Bearer ${impostor.token}`)).rejects.toMatchObject({ code: 'DATA_TOKEN_INVALID' });
  });
});

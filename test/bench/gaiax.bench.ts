/**
 * Verifications per second of a three-credential Loire presentation (legal person, Gaia-X terms and conditions,
 * notary-issued registration number) with the DID documents given and the 25.11 shapes prepared (warm worker): all
 * eight steps, SHACL included. Also the 22.10 equivalent (JsonWebSignature2020, URDNA2015) and the cold first
 * verification (shapes preparation) for reference.
 */
import { createSelfDescription } from '../../src/gaiax/producer';
import { verifySelfDescription, type VerifyOptions } from '../../src/gaiax/verifier';
import { ShaclPool } from '../../src/gaiax/shacl';
import { decodeCompactJws, signCompactJws } from '../../src/gaiax/jws';
import { CREDENTIALS_V2, GX_LOIRE } from '../../src/gaiax/constants';
import { gaiaxSettings, makeCa, makeParticipant, offlineResolver } from '../fixtures/gaiax/helpers';

async function rate(fn: () => Promise<unknown>, durationMs: number): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    await fn();
    n++;
  }
  return Math.round((n * 1000 * 10) / (performance.now() - start)) / 10;
}

export async function run(durationMs = 3000): Promise<Record<string, number>> {
  const ca = makeCa();
  const farm = await makeParticipant(ca, 'farm.example');
  const notary = await makeParticipant(ca, 'notary.example', { keyType: 'rsa' });
  const now = Date.now();
  const lrnId = 'https://notary.example/lrn/DE123456789';
  const lrn = await signCompactJws(
    {
      '@context': [CREDENTIALS_V2, GX_LOIRE],
      type: ['VerifiableCredential', 'gx:VatID'],
      id: lrnId,
      issuer: notary.did,
      validFrom: new Date(now).toISOString(),
      credentialSubject: { id: `${lrnId}#cs`, type: 'gx:VatID', vatID: 'DE123456789', countryCode: 'DE' },
    },
    { alg: notary.identity.alg, typ: 'vc+ld+jwt', cty: 'vc+ld', iss: notary.did, kid: notary.identity.kid, iat: now, exp: now + 86_400_000 },
    notary.privateKey,
  );
  const common = { identity: farm.identity, baseUrl: 'https://farm.example', dspUrl: 'https://farm.example/dsp/2025-1', datasets: [] };
  const full = await createSelfDescription({ settings: gaiaxSettings(), registrationCredential: lrn, ...common });
  // Keep legal person + T&C + notary LRN: a three-credential VP-JWT.
  const vcs = [full.credentials[0]!.body, full.credentials[1]!.body, lrn];
  const vp = await signCompactJws(
    { '@context': [CREDENTIALS_V2], type: ['VerifiablePresentation'], holder: farm.did, verifiableCredential: vcs.map((j) => ({ '@context': CREDENTIALS_V2, type: 'EnvelopedVerifiableCredential', id: `data:application/vc+jwt,${j}` })) },
    { ...decodeCompactJws(full.presentation.body).header, alg: farm.identity.alg },
    farm.privateKey,
  );
  const tagus = await createSelfDescription({ settings: gaiaxSettings({ format: '22.10' }), ...common });
  const tagusVp = JSON.parse(tagus.presentation.body);
  tagusVp.verifiableCredential = tagusVp.verifiableCredential.slice(0, 3); // legal participant, registration number, T&C

  const shacl = new ShaclPool({ idleMs: 60_000 });
  const opts: VerifyOptions = { resolver: offlineResolver(farm, notary), anchors: [ca.certificate], settings: { trustedNotaries: [notary.did, farm.did], trustedIssuers: [] }, shacl };
  try {
    let t = performance.now();
    const first = await verifySelfDescription(vp, opts);
    const coldMs = Math.round(performance.now() - t);
    if (!first.ok) throw new Error(`benchmark presentation does not verify: ${first.steps.filter((s) => s.status === 'FAIL').map((s) => s.reason).join('; ')}`);
    t = performance.now();
    const tagusFirst = await verifySelfDescription(tagusVp, opts);
    const tagusColdMs = Math.round(performance.now() - t);
    if (!tagusFirst.ok) throw new Error(`22.10 benchmark presentation does not verify: ${tagusFirst.steps.filter((s) => s.status === 'FAIL').map((s) => s.reason).join('; ')}`);
    return {
      loireVerificationsPerSecond: await rate(() => verifySelfDescription(vp, opts), durationMs),
      tagusVerificationsPerSecond: await rate(() => verifySelfDescription(tagusVp, opts), durationMs),
      firstVerificationColdMs: coldMs,
      first2210VerificationColdMs: tagusColdMs,
    };
  } finally {
    await shacl.close();
  }
}

if (require.main === module) void run().then((r) => console.log(JSON.stringify(r)));

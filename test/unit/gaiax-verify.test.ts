/**
 * Producer and verifier, end to end in both formats: sign then verify (every step PASS), then each failure class
 * detected and named by its step and code. Our signatures are also checked by openssl on the raw JWS signing input.
 */
import crypto, { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { compactVerify, importJWK } from 'jose';
import { certificateToPem } from '../../src/pki';
import { buildDidDocument } from '../../src/identity/did';
import { createSelfDescription, type SelfDescription } from '../../src/gaiax/producer';
import { verifySelfDescription, type VerificationReport, type VerifyOptions } from '../../src/gaiax/verifier';
import { decodeCompactJws, signCompactJws, signJws2020, type Json } from '../../src/gaiax/jws';
import { offlineDocumentLoader } from '../../src/gaiax/documents';
import { DidResolver } from '../../src/gaiax/did-resolver';
import { sharedShaclPool } from '../../src/gaiax/shacl';
import { CREDENTIALS_V1, CREDENTIALS_V2, GX_2210, GX_LOIRE, JWS2020_CONTEXT } from '../../src/gaiax/constants';
import { DATASETS, gaiaxSettings, makeCa, makeParticipant, offlineResolver, type Participant } from '../fixtures/gaiax/helpers';

const DAY = 86_400_000;
let ca: ReturnType<typeof makeCa>;
let farm: Participant;
let notary: Participant;
let rsaFarm: Participant;
let lrnJwt: string;

/** A notary-issued registration number (Loire), as a GXDCH notary returns it: times in ms in the header. */
async function notaryLrn(n: Participant, now = new Date()): Promise<string> {
  const id = 'https://notary.example/v2/registration-numbers/vat-id/DE123456789';
  return signCompactJws(
    {
      '@context': [CREDENTIALS_V2, GX_LOIRE],
      type: ['VerifiableCredential', 'gx:VatID'],
      id,
      issuer: n.did,
      validFrom: now.toISOString(),
      validUntil: new Date(now.getTime() + 90 * DAY).toISOString(),
      credentialSubject: { id: `${id}#cs`, type: 'gx:VatID', vatID: 'DE123456789', countryCode: 'DE' },
    },
    { alg: n.identity.alg, typ: 'vc+ld+jwt', cty: 'vc+ld', iss: n.did, kid: n.identity.kid, iat: now.getTime(), exp: now.getTime() + 90 * DAY },
    n.privateKey,
  );
}

function options(over: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    resolver: offlineResolver(farm, notary, rsaFarm),
    anchors: [ca.certificate],
    settings: { trustedNotaries: [notary.did], trustedIssuers: [] },
    ...over,
  };
}

async function loire(p: Participant = farm, over: Partial<Parameters<typeof createSelfDescription>[0]> = {}): Promise<SelfDescription> {
  return createSelfDescription({
    settings: gaiaxSettings(),
    identity: p.identity,
    baseUrl: `https://${p.host}`,
    dspUrl: `https://${p.host}/dsp/2025-1`,
    datasets: DATASETS,
    registrationCredential: lrnJwt,
    ...over,
  });
}

const step = (r: VerificationReport, n: number) => r.steps[n - 1]!;
const codes = (r: VerificationReport, n: number) => step(r, n).findings.map((f) => f.code);
const failedSteps = (r: VerificationReport) => r.steps.filter((s) => s.status === 'FAIL').map((s) => s.step);

/** A VP-JWT over the given VC-JWTs, signed by `holder`. */
async function presentation(holder: Participant, jwts: string[], now = new Date()): Promise<string> {
  return signCompactJws(
    {
      '@context': [CREDENTIALS_V2],
      type: ['VerifiablePresentation'],
      holder: holder.did,
      verifiableCredential: jwts.map((j) => ({ '@context': CREDENTIALS_V2, type: 'EnvelopedVerifiableCredential', id: `data:application/vc+jwt,${j}` })),
    },
    { alg: holder.identity.alg, typ: 'vp+jwt', cty: 'vp', iss: holder.did, kid: holder.identity.kid, iat: now.getTime(), exp: now.getTime() + DAY },
    holder.privateKey,
  );
}

/** Re-signs a credential of a self-description after `edit` changed its payload. */
async function resign(jwt: string, signer: Participant, edit: (payload: Json, header: Json) => void): Promise<string> {
  const { header, payload } = decodeCompactJws(jwt);
  edit(payload, header);
  return signCompactJws(payload, header as never, signer.privateKey);
}

beforeAll(async () => {
  ca = makeCa();
  farm = await makeParticipant(ca, 'farm.example');
  notary = await makeParticipant(ca, 'notary.example', { keyType: 'rsa' });
  rsaFarm = await makeParticipant(ca, 'rsa-farm.example', { keyType: 'rsa' });
  lrnJwt = await notaryLrn(notary);
});
afterAll(() => sharedShaclPool().close());

describe('Loire: sign then verify', () => {
  it.each([
    ['ES256 (EC P-256 key)', () => farm],
    ['PS256 (RSA key)', () => rsaFarm],
  ])('a VP-JWT of the producer passes all eight steps: %s', async (_name, who) => {
    const p = who();
    const sd = await loire(p);
    expect(sd.format).toBe('loire');
    const { header } = decodeCompactJws(sd.presentation.body);
    expect(header).toMatchObject({ alg: p.identity.alg, typ: 'vp+jwt', cty: 'vp', iss: p.did, kid: p.identity.kid });
    const vc = decodeCompactJws(sd.credentials[0]!.body);
    expect(vc.header).toMatchObject({ alg: p.identity.alg, typ: 'vc+jwt', cty: 'vc', iss: p.did, kid: p.identity.kid });
    expect(vc.header.iat).toBeGreaterThan(1e12); // milliseconds, as GXDCH notaries write them
    expect(vc.payload).toMatchObject({ '@context': [CREDENTIALS_V2, GX_LOIRE], issuer: p.did, id: sd.credentials[0]!.id });
    const report = await verifySelfDescription(sd.presentation.body, options());
    expect(report.steps.map((s) => `${s.step} ${s.status} ${s.status === 'FAIL' ? s.reason : ''}`)).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `${n} PASS `),
    );
    expect(report.ok).toBe(true);
    expect(report.format).toMatch(/^Loire VP-JWT with 6 credential/); // legal person, T&C, offering, 2 datasets, notary LRN
    expect(report.shacl?.conforms).toBe(true);
    const types = report.credentials.flatMap((c) => c.types);
    expect(types).toEqual(expect.arrayContaining(['LegalPerson', 'Issuer', 'ServiceOffering', 'DataResource', 'VatID']));
  });

  it('every credential is served under its own id and enveloped in the presentation', async () => {
    const sd = await loire();
    const vp = decodeCompactJws(sd.presentation.body).payload;
    const ids = (vp.verifiableCredential as Json[]).map((e) => decodeCompactJws(String(e.id).replace(/^data:application\/vc\+jwt,/, '')).payload.id);
    expect(ids).toEqual([...sd.credentials.map((c) => c.id), 'https://notary.example/v2/registration-numbers/vat-id/DE123456789']);
    expect(sd.credentials.map((c) => c.name)).toEqual(['legal-person', 'terms-and-conditions', 'service-offering', 'dataset-soil-2026', 'dataset-yield-2025']);
  });

  it('a single VC-JWT is verified on its own; participant-level rules need a presentation', async () => {
    const sd = await loire();
    const report = await verifySelfDescription(sd.credentials[2]!.body, options());
    expect(report.format).toBe('Loire VC-JWT');
    expect(failedSteps(report)).toEqual([7]); // the offering's provider is not in the data graph (sh:class)
  });

  it('a self-issued registration number is named: not from a trusted notary', async () => {
    const sd = await loire(farm, { registrationCredential: null });
    expect(sd.warnings.join()).toMatch(/self-issued/);
    const report = await verifySelfDescription(sd.presentation.body, options());
    expect(failedSteps(report)).toEqual([8]);
    expect(codes(report, 8)).toEqual(['NOTARY_UNTRUSTED']);
    // ... and passes when the operator trusts its own DID as notary (a cooperative's internal dataspace).
    const trusted = await verifySelfDescription(sd.presentation.body, options({ settings: { trustedNotaries: [farm.did], trustedIssuers: [] } }));
    expect(trusted.ok).toBe(true);
  });

  it('emits a result credential signed with the verifier key, listing ids and JCS digests', async () => {
    const sd = await loire();
    const certifier = await makeParticipant(ca, 'certifier.example');
    const report = await verifySelfDescription(sd.presentation.body, options({ resultSigner: { ...certifier.identity } }));
    expect(report.ok).toBe(true);
    const key = await importJWK((certifier.didDocument.verificationMethod as Json[])[0]!.publicKeyJwk as never, certifier.identity.alg);
    const { payload, protectedHeader } = await compactVerify(report.resultCredential!, key);
    expect(protectedHeader).toMatchObject({ kid: certifier.identity.kid, typ: 'vc+jwt' });
    const vc = JSON.parse(Buffer.from(payload).toString()) as Json;
    expect(vc.issuer).toBe(certifier.did);
    expect(JSON.stringify(vc.type)).not.toMatch(/gx:/);
    const listed = (vc.credentialSubject as Json).verifiedCredentials as Json[];
    expect(listed).toHaveLength(6);
    // Independent digest: RFC 8785 by canonicalize of the decoded payload.
    const canonicalize = require('canonicalize') as (v: unknown) => string;
    const first = decodeCompactJws(sd.credentials[0]!.body).payload;
    const hex = crypto.createHash('sha256').update(canonicalize(first)).digest('hex');
    expect(listed.find((l) => l.id === first.id)).toMatchObject({ sha256: hex, digestSRI: `sha256-${Buffer.from(hex, 'hex').toString('base64')}` });
  });

  it('no result credential when a check fails', async () => {
    const sd = await loire(farm, { registrationCredential: null });
    const report = await verifySelfDescription(sd.presentation.body, options({ resultSigner: { ...farm.identity } }));
    expect(report.ok).toBe(false);
    expect(report.resultCredential).toBeUndefined();
  });
});

describe('22.10: sign then verify', () => {
  it.each([
    ['gaia-x', 'EC', () => farm],
    ['specification', 'EC', () => farm],
    ['gaia-x', 'RSA', () => rsaFarm],
  ] as const)('JsonWebSignature2020 (%s flavour, %s key) passes all eight steps', async (flavour, _kind, who) => {
    const p = who();
    const sd = await createSelfDescription({
      settings: gaiaxSettings({ format: '22.10' }),
      identity: p.identity,
      baseUrl: `https://${p.host}`,
      dspUrl: `https://${p.host}/dsp/2025-1`,
      datasets: DATASETS,
      flavour,
    });
    const vp = JSON.parse(sd.presentation.body) as Json;
    const first = (vp.verifiableCredential as Json[])[0]!;
    expect(first.proof).toMatchObject({ type: 'JsonWebSignature2020', proofPurpose: 'assertionMethod', verificationMethod: p.identity.kid });
    const header = JSON.parse(Buffer.from(String((first.proof as Json).jws).split('.')[0]!, 'base64url').toString()) as Json;
    expect(header).toEqual({ alg: p.identity.alg, b64: false, crit: ['b64'] });
    const report = await verifySelfDescription(sd.presentation.body, options({ settings: { trustedNotaries: [p.did], trustedIssuers: [] } }));
    expect(report.steps.filter((s) => s.status === 'FAIL').map((s) => s.reason)).toEqual([]);
    expect(report.format).toMatch(/^22\.10 JSON-LD VP with 6 credential/);
    expect(report.credentials.filter((c) => c.role === 'credential').every((c) => c.flavour === flavour)).toBe(true);
    expect(report.shacl?.release).toBe('22.10');
  });

  it('a tampered 22.10 credential fails the signature step', async () => {
    const sd = await createSelfDescription({ settings: gaiaxSettings({ format: '22.10' }), identity: farm.identity, baseUrl: 'https://farm.example', dspUrl: 'https://farm.example/dsp', datasets: [] });
    const vc = JSON.parse(sd.credentials[0]!.body) as Json;
    (vc.credentialSubject as Json)['gx:legalName'] = 'Someone Else Ltd';
    const report = await verifySelfDescription(JSON.stringify(vc), options());
    expect(report.format).toBe('22.10 JSON-LD VC');
    expect(codes(report, 5)).toEqual(['SIGNATURE_INVALID']);
  });

  it('a 22.10 legal participant without legal address violates the shapes', async () => {
        const sd = await createSelfDescription({ settings: gaiaxSettings({ format: '22.10' }), identity: farm.identity, baseUrl: 'https://farm.example', dspUrl: 'https://farm.example/dsp', datasets: [] });
    const vp = JSON.parse(sd.presentation.body) as Json;
    const vcs = vp.verifiableCredential as Json[];
    delete (vcs[0]!.credentialSubject as Json)['gx:legalAddress'];
    vcs[0] = await signJws2020(vcs[0]!, { key: farm.privateKey, alg: farm.identity.alg, verificationMethod: farm.identity.kid });
    const report = await verifySelfDescription(vp, options({ settings: { trustedNotaries: [farm.did], trustedIssuers: [] } }));
    expect(failedSteps(report)).toEqual([7]);
    expect(step(report, 7).reason).toMatch(/legalAddress/);
  });
});

describe('22.10: only what the signature covers counts', () => {
  /** A 22.10 VP of the farm whose registration number is a credential of the (trusted) notary. */
  async function tagus(): Promise<Json> {
    const lrn = await signJws2020(
      {
        '@context': [CREDENTIALS_V1, JWS2020_CONTEXT, GX_2210],
        type: ['VerifiableCredential'],
        id: 'https://notary.example/lrn/DE123456789',
        issuer: notary.did,
        issuanceDate: new Date().toISOString(),
        credentialSubject: { id: 'https://notary.example/lrn/DE123456789#cs', type: 'gx:legalRegistrationNumber', 'gx:vatID': 'DE123456789' },
      },
      { key: notary.privateKey, alg: notary.identity.alg, verificationMethod: notary.identity.kid },
    );
    const sd = await createSelfDescription({ settings: gaiaxSettings({ format: '22.10' }), identity: farm.identity, baseUrl: 'https://farm.example', dspUrl: 'https://farm.example/dsp', datasets: [], registrationCredential: JSON.stringify(lrn) });
    return JSON.parse(sd.presentation.body) as Json;
  }
  const vcs = (vp: Json) => vp.verifiableCredential as Json[];
  /** The VP without the farm's terms-and-conditions credential. */
  const withoutTerms = (vp: Json) => ({ ...vp, verifiableCredential: vcs(vp).filter((c) => (c.credentialSubject as Json).type !== 'gx:GaiaXTermsAndConditions') });

  it('the genuine presentation passes, and fails without the terms and conditions', async () => {
    const vp = await tagus();
    expect((await verifySelfDescription(vp, options())).steps.filter((s) => s.status === 'FAIL').map((s) => s.reason)).toEqual([]);
    expect(codes(await verifySelfDescription(withoutTerms(vp), options()), 8)).toEqual(['TERMS_MISSING']);
  });

  it.each([
    ['a bare type the contexts do not define (dropped by JSON-LD)', (vc: Json) => {
      vc.type = [...(vc.type as string[]), 'GaiaXTermsAndConditions'];
    }],
    ['a bare type aliased to an IRI the graph already holds (safe mode would not notice)', (vc: Json) => {
      vc['@context'] = [...(vc['@context'] as unknown[]), { GaiaXTermsAndConditions: 'https://www.w3.org/2018/credentials#VerifiableCredential' }];
      vc.type = [...(vc.type as string[]), 'GaiaXTermsAndConditions'];
    }],
  ])('unsigned terms-and-conditions type: %s', async (_name, edit) => {
    const vp = withoutTerms(await tagus());
    edit(vcs(vp)[0]!);
    const report = await verifySelfDescription(vp, options());
    expect(failedSteps(report)).toEqual([8]); // the signature still verifies: the canonical form is unchanged
    expect(codes(report, 8)).toEqual(['TERMS_MISSING']);
    expect(report.credentials.flatMap((c) => c.types)).not.toContain('GaiaXTermsAndConditions');
  });

  it('unsigned issuer: an @base turns an empty issuer into the signed one, so no terms would be required', async () => {
    const vp = withoutTerms(await tagus());
    for (const vc of vcs(vp).filter((c) => c.issuer === farm.did)) {
      vc['@context'] = [...(vc['@context'] as unknown[]), { '@base': farm.did }];
      vc.issuer = '';
    }
    const report = await verifySelfDescription(vp, options());
    expect(codes(report, 5)).toEqual(['ISSUER_MISMATCH', 'ISSUER_MISMATCH']); // legal person and service offering
    expect(codes(report, 8)).toEqual(['TERMS_MISSING']);
  });

  it('unsigned registration number: a bare registrationNumber next to a signed one without id', async () => {
    const vp = await tagus();
    const lp = vcs(vp)[0]!;
    const cs = lp.credentialSubject as Json;
    cs['gx:legalRegistrationNumber'] = { 'gx:vatID': 'DE123456789' };
    vcs(vp)[0] = await signJws2020(lp, { key: farm.privateKey, alg: farm.identity.alg, verificationMethod: farm.identity.kid });
    expect(codes(await verifySelfDescription(vp, options()), 8)).toEqual(['REGISTRATION_NUMBER_MISSING']);
    (vcs(vp)[0]!.credentialSubject as Json).registrationNumber = { id: 'https://notary.example/lrn/DE123456789#cs' };
    const report = await verifySelfDescription(vp, options());
    expect(step(report, 5).status).toBe('PASS');
    expect(codes(report, 8)).toEqual(['REGISTRATION_NUMBER_MISSING']);
  });
});

describe('failure classes', () => {
  it('tampered payload: SIGNATURE_INVALID at step 5', async () => {
    const sd = await loire();
    const [h, p, s] = sd.credentials[0]!.body.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Json;
    (payload.credentialSubject as Json).name = 'Someone Else Ltd';
    const tampered = [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.');
    const report = await verifySelfDescription(tampered, options());
    expect(failedSteps(report)).toContain(5);
    expect(codes(report, 5)).toEqual(['SIGNATURE_INVALID']);
    // Inside a presentation the VP signature breaks as well.
    const vp = await presentation(farm, [tampered, ...sd.credentials.slice(1).map((c) => c.body), lrnJwt]);
    expect(codes(await verifySelfDescription(vp, options()), 5)).toEqual(['SIGNATURE_INVALID']);
  });

  it('wrong key: signed with another key under our kid → SIGNATURE_INVALID; DID document key ≠ certificate → KEY_MISMATCH', async () => {
    const sd = await loire();
    const impostor = await makeParticipant(ca, 'farm.example');
    const forged = await resign(sd.credentials[0]!.body, impostor, () => undefined);
    expect(codes(await verifySelfDescription(forged, options()), 5)).toEqual(['SIGNATURE_INVALID']);

    // The DID document names the impostor's key but the (x5c) chain is the real farm certificate.
    const doc = structuredClone(farm.didDocument);
    const vm = (doc.verificationMethod as Json[])[0]!;
    const impostorJwk = (impostor.didDocument.verificationMethod as Json[])[0]!.publicKeyJwk as Json;
    vm.publicKeyJwk = { ...impostorJwk, x5c: (vm.publicKeyJwk as Json).x5c };
    const resolver = new DidResolver({ didDocuments: [doc, notary.didDocument], offline: true });
    const report = await verifySelfDescription(forged, options({ resolver }));
    expect(codes(report, 4)).toEqual(['KEY_MISMATCH']);
  });

  it('a key certified for another host: HOST_MISMATCH at step 4, and no result credential', async () => {
    // evil.example holds a valid certificate for itself and hands over a DID document of farm.example naming its key.
    const evil = await makeParticipant(ca, 'evil.example');
    const forgedDoc = (await buildDidDocument({ did: farm.did, publicKey: createPublicKey(evil.privateKey), chain: evil.chain, chainUrl: 'https://evil.example/chain.pem' })) as Json;
    const kid = (forgedDoc.verificationMethod as Json[])[0]!.id as string;
    const sd = await loire(farm, { identity: { ...evil.identity, did: farm.did, kid } });
    const resolver = new DidResolver({ didDocuments: [forgedDoc, notary.didDocument], offline: true });
    const certifier = await makeParticipant(ca, 'certifier.example');
    const report = await verifySelfDescription(sd.presentation.body, options({ resolver, resultSigner: { ...certifier.identity } }));
    expect(failedSteps(report)).toEqual([4]);
    expect(new Set(codes(report, 4))).toEqual(new Set(['HOST_MISMATCH']));
    expect(step(report, 4).reason).toMatch(/does not name the did:web host farm\.example/);
    expect(report.resultCredential).toBeUndefined();

    // A wildcard certificate names the host (one label deep only).
    const coop = await makeParticipant(ca, 'farm1.coop.example', { hostnames: ['*.coop.example'] });
    const wild = await verifySelfDescription((await loire(coop)).presentation.body, options({ resolver: offlineResolver(coop, notary) }));
    expect(wild.ok).toBe(true);
    const deep = await makeParticipant(ca, 'a.farm1.coop.example', { hostnames: ['*.coop.example'] });
    expect(codes(await verifySelfDescription((await loire(deep)).credentials[0]!.body, options({ resolver: offlineResolver(deep) })), 4)).toEqual(['HOST_MISMATCH']);
  });

  it('a given DID document of a DID that is not did:web (no host to bind): DID_NOT_WEB at step 2', async () => {
    const other = 'did:example:farm';
    const doc = JSON.parse(JSON.stringify(farm.didDocument).replaceAll(farm.did, other)) as Json;
    const jwt = await resign((await loire()).credentials[0]!.body, farm, (p, h) => {
      p.issuer = other;
      h.iss = other;
      h.kid = String(h.kid).replace(farm.did, other);
    });
    const report = await verifySelfDescription(jwt, options({ resolver: new DidResolver({ didDocuments: [doc], offline: true }) }));
    expect(codes(report, 2)).toEqual(['DID_NOT_WEB']);
  });

  it('untrusted chain: CHAIN_UNTRUSTED at step 4', async () => {
    const sd = await loire();
    const report = await verifySelfDescription(sd.presentation.body, options({ anchors: [makeCa('Another Root').certificate] }));
    // The signatures themselves are valid (step 5 reports them) but the keys are not anchored.
    expect(failedSteps(report)).toEqual([4]);
    expect(new Set(codes(report, 4))).toEqual(new Set(['CHAIN_UNTRUSTED']));
    expect(step(report, 4).reason).toMatch(/not issued by a trusted CA/);
  });

  it('expired certificate: CERT_EXPIRED at step 4', async () => {
    const old = await makeParticipant(ca, 'old.example', { notBefore: new Date(Date.now() - 400 * DAY), validityDays: 30 });
    const sd = await loire(old, { now: new Date(Date.now() - 380 * DAY), settings: gaiaxSettings({ validityDays: 3650 }) });
    const report = await verifySelfDescription(sd.credentials[0]!.body, options({ resolver: offlineResolver(old) }));
    expect(codes(report, 4)).toEqual(['CERT_EXPIRED']);
    expect(step(report, 4).reason).toMatch(/expired on/);
  });

  it('expired credential: CREDENTIAL_EXPIRED at step 6 (validUntil and header exp)', async () => {
    const sd = await loire(farm, { now: new Date(Date.now() - 100 * DAY), settings: gaiaxSettings({ validityDays: 90 }) });
    const report = await verifySelfDescription(sd.credentials[0]!.body, options());
    expect(failedSteps(report)).toEqual([6, 7]);
    expect(codes(report, 6)).toEqual(['CREDENTIAL_EXPIRED', 'CREDENTIAL_EXPIRED']);
  });

  it('header iat/exp are read in seconds or milliseconds', async () => {
    const sd = await loire();
    const inSeconds = await resign(sd.credentials[1]!.body, farm, (_p, h) => {
      h.iat = Math.floor(Date.now() / 1000) - 7200;
      h.exp = Math.floor(Date.now() / 1000) - 3600; // expired an hour ago, in seconds
    });
    expect(codes(await verifySelfDescription(inSeconds, options()), 6)).toEqual(['CREDENTIAL_EXPIRED']);
    const inMs = await resign(sd.credentials[1]!.body, farm, (_p, h) => {
      h.iat = Date.now() - 10_000;
      h.exp = Date.now() + 3_600_000; // valid, in milliseconds
    });
    expect(step(await verifySelfDescription(inMs, options()), 6).status).toBe('PASS');
    const future = await resign(sd.credentials[1]!.body, farm, (p) => {
      p.validFrom = new Date(Date.now() + 3 * DAY).toISOString();
    });
    expect(codes(await verifySelfDescription(future, options()), 6)).toEqual(['CREDENTIAL_NOT_YET_VALID']);
  });

  it('missing required property per SHACL: SHACL_VIOLATION at step 7 naming the property', async () => {
    const sd = await loire();
    const noAddress = await resign(sd.credentials[0]!.body, farm, (p) => {
      delete (p.credentialSubject as Json).legalAddress;
    });
    const badTerms = await resign(sd.credentials[1]!.body, farm, (p) => {
      (p.credentialSubject as Json).gaiaxTermsAndConditions = 'f'.repeat(64);
    });
    const vp = await presentation(farm, [noAddress, badTerms, ...sd.credentials.slice(2).map((c) => c.body), lrnJwt]);
    const report = await verifySelfDescription(vp, options());
    expect(failedSteps(report)).toEqual([7]);
    expect(new Set(codes(report, 7))).toEqual(new Set(['SHACL_VIOLATION']));
    const text = step(report, 7).findings.map((f) => f.message).join('\n');
    expect(text).toMatch(/legal-person#cs https:\/\/w3id\.org\/gaia-x\/development#legalAddress: Less than 1 values/);
    expect(text).toMatch(/gaiaxTermsAndConditions/);
  });

  it('unknown kid: UNKNOWN_KID at step 3', async () => {
    const sd = await loire();
    const jwt = await resign(sd.credentials[0]!.body, farm, (_p, h) => {
      h.kid = `${farm.did}#no-such-key`;
    });
    const report = await verifySelfDescription(jwt, options());
    expect(codes(report, 3)).toEqual(['UNKNOWN_KID']);
    expect(step(report, 4).reason).toMatch(/not checked/);
  });

  it('a key not listed under assertionMethod: NOT_ASSERTION_METHOD at step 3', async () => {
    const sd = await loire();
    const doc = { ...structuredClone(farm.didDocument), assertionMethod: [] };
    const report = await verifySelfDescription(sd.credentials[0]!.body, options({ resolver: new DidResolver({ didDocuments: [doc], offline: true }) }));
    expect(codes(report, 3)).toEqual(['NOT_ASSERTION_METHOD']);
  });

  it('unresolvable DID: DID_UNRESOLVABLE at step 2 (offline and network failure)', async () => {
    const sd = await loire();
    const offline = await verifySelfDescription(sd.presentation.body, options({ resolver: new DidResolver({ offline: true }) }));
    expect(new Set(codes(offline, 2))).toEqual(new Set(['DID_UNRESOLVABLE']));
    expect(failedSteps(offline)).toEqual([2, 3, 4, 5]);
    const network = new DidResolver({ fetchText: async () => Promise.reject(new Error('ENOTFOUND farm.example')) });
    const report = await verifySelfDescription(sd.credentials[0]!.body, options({ resolver: network }));
    expect(codes(report, 2)).toEqual(['DID_UNRESOLVABLE']);
    expect(step(report, 2).reason).toMatch(/https:\/\/farm\.example\/\.well-known\/did\.json.*ENOTFOUND/);
  });

  it('issuer mismatch between header and payload: ISSUER_MISMATCH at step 3', async () => {
    const sd = await loire();
    const jwt = await resign(sd.credentials[0]!.body, farm, (p) => {
      p.issuer = notary.did;
    });
    expect(codes(await verifySelfDescription(jwt, options()), 3)).toEqual(['ISSUER_MISMATCH']);
  });

  it('cross-credential rules: missing T&C, provider of another issuer', async () => {
    const sd = await loire();
    const [lp, , so, d1, d2] = sd.credentials.map((c) => c.body);
    // The notary describes an offering "provided by" the farm: its provider is not its issuer.
    const foreignSo = await resign(so!, notary, (p, h) => {
      p.issuer = notary.did;
      h.iss = notary.did;
      h.kid = notary.identity.kid;
      h.alg = notary.identity.alg;
    });
    const vp = await presentation(farm, [lp!, foreignSo, d1!, d2!, lrnJwt]);
    const report = await verifySelfDescription(vp, options());
    expect(failedSteps(report)).toEqual([8]);
    expect(codes(report, 8).sort()).toEqual(['PROVIDER_MISMATCH', 'TERMS_MISSING']);
  });

  it('input that is no credential: FORMAT_UNRECOGNISED at step 1, all other steps not checked', async () => {
    for (const input of ['hello', '{"type":"Something"}', 'a.b.c']) {
      const report = await verifySelfDescription(input, options());
      expect(report.ok).toBe(false);
      expect(codes(report, 1)).toEqual(['FORMAT_UNRECOGNISED']);
      expect(report.steps.slice(1).every((s) => s.status === 'FAIL' && /not checked/.test(s.reason))).toBe(true);
    }
  });
});

describe('independent check of our signatures with openssl', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-gaiax-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** openssl dgst over the raw JWS signing input with the certificate's public key. */
  function opensslVerify(signingInput: Buffer, signature: Buffer, p: Participant): string {
    const input = path.join(dir, 'input');
    const sig = path.join(dir, 'sig');
    const pub = path.join(dir, 'pub.pem');
    fs.writeFileSync(input, signingInput);
    fs.writeFileSync(pub, p.chain[0]!.publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'cert.pem'), certificateToPem(p.chain[0]!));
    let args: string[];
    if (p.identity.alg === 'ES256') {
      // JWS carries r||s; openssl wants the DER ECDSA-Sig-Value.
      const int = (b: Buffer) => {
        let v = b;
        while (v.length > 1 && v[0] === 0 && v[1]! < 0x80) v = v.subarray(1);
        if (v[0]! >= 0x80) v = Buffer.concat([Buffer.from([0]), v]);
        return Buffer.concat([Buffer.from([0x02, v.length]), v]);
      };
      const body = Buffer.concat([int(signature.subarray(0, 32)), int(signature.subarray(32))]);
      fs.writeFileSync(sig, Buffer.concat([Buffer.from([0x30, body.length]), body]));
      args = ['dgst', '-sha256', '-verify', pub, '-signature', sig, input];
    } else {
      fs.writeFileSync(sig, signature);
      args = ['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-verify', pub, '-signature', sig, input];
    }
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.trim();
  }

  it.each([
    ['ES256', () => farm],
    ['PS256', () => rsaFarm],
  ])('Loire VC-JWT and VP-JWT (%s)', async (_alg, who) => {
    const p = who();
    const sd = await loire(p);
    for (const jwt of [sd.presentation.body, sd.credentials[0]!.body]) {
      const [h, pl, s] = jwt.split('.');
      expect(opensslVerify(Buffer.from(`${h}.${pl}`, 'ascii'), Buffer.from(s!, 'base64url'), p)).toBe('Verified OK');
      // and a flipped payload byte is refused
      expect(opensslVerify(Buffer.from(`${h}.${pl}x`, 'ascii'), Buffer.from(s!, 'base64url'), p)).toMatch(/Verification failure/);
    }
  });

  it.each([
    ['ES256', () => farm],
    ['PS256', () => rsaFarm],
  ])('22.10 JsonWebSignature2020, Gaia-X flavour (%s): header "." hex(sha256(URDNA2015))', async (_alg, who) => {
    const p = who();
    const sd = await createSelfDescription({ settings: gaiaxSettings({ format: '22.10' }), identity: p.identity, baseUrl: `https://${p.host}`, dspUrl: 'https://x/dsp', datasets: [] });
    const vc = JSON.parse(sd.credentials[0]!.body) as Json;
    const { proof, ...unsigned } = vc;
    const jsonld = require('jsonld') as typeof import('jsonld');
        const nquads = (await jsonld.canonize(unsigned as never, { algorithm: 'URDNA2015', format: 'application/n-quads', documentLoader: offlineDocumentLoader, safe: false } as never)) as unknown as string;
    const hex = crypto.createHash('sha256').update(nquads).digest('hex');
    const [h, s] = String((proof as Json).jws).split('..');
    expect(opensslVerify(Buffer.concat([Buffer.from(`${h}.`, 'ascii'), Buffer.from(hex, 'ascii')]), Buffer.from(s!, 'base64url'), p)).toBe('Verified OK');
  });
});

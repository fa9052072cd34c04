/**
 * The producer: the connector's own Gaia-X self-description, built from configuration and the published catalog and
 * signed with the connector key (NOTES §8):
 * - Loire (default): VC Data Model 2.0 credentials, each a compact JWS (typ vc+jwt, cty vc, iss = DID, kid = the DID
 *   document's verification method, iat/exp in milliseconds as the Gaia-X notaries write them), bundled in a VP-JWT
 *   (typ vp+jwt) whose verifiableCredential entries are EnvelopedVerifiableCredential data: URLs;
 * - 22.10 (gaiax.format = "22.10"): VC Data Model 1.1 JSON-LD credentials with a JsonWebSignature2020 proof (Gaia-X
 *   flavour by default), in an unsigned presentation as the 22.10 compliance service expects.
 * Credentials: the legal person (legal name, registration-number reference, legal and headquarters address), the
 * registration number (the notary's credential from gaiax.registrationNumber.credential, else a self-issued one),
 * the acceptance of the Gaia-X terms and conditions (Loire gx:Issuer with the hash from the 25.11 shapes; 22.10
 * gx:GaiaXTermsAndConditions with the exact text from the 22.10 shapes), the connector's service offering, and one
 * data resource per dataset of the public catalog. Credential ids are the public URLs they are served at.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { HedgerowConfig } from '../config/schema';
import { ConfigError, HedgerowError } from '../errors';
import { CREDENTIALS_PATH, CREDENTIALS_V1, CREDENTIALS_V2, GAIAX_SPEC_DIR, GX_2210, GX_LOIRE, JWS2020_CONTEXT, SELF_DESCRIPTION_PATH, type SelfDescriptionFormat } from './constants';
import { specJson } from './documents';
import { decodeCompactJws, signCompactJws, signJws2020, type Json, type Jws2020Flavour } from './jws';

export type GaiaxSettings = HedgerowConfig['gaiax'];

export interface ProducerIdentity {
  did: string;
  /** The DID document's verification method id (DID#fragment). */
  kid: string;
  alg: string;
  privateKey: KeyObject;
  /** Credentials never outlive the certificate (as the compliance service caps its own). */
  certificateNotAfter?: Date;
}

export interface PublishedDataset {
  id: string;
  title?: string | null;
  description?: string | null;
  keywords?: string[];
  /** The ODRL offers the public catalog shows for it. */
  offers: Json[];
}

export interface ProducerInput {
  settings: GaiaxSettings;
  format?: SelfDescriptionFormat;
  identity: ProducerIdentity;
  /** Public base URL of the connector, no trailing slash. */
  baseUrl: string;
  /** DSP base URL (datasets are licensed by the contracts offered there). */
  dspUrl: string;
  datasets: PublishedDataset[];
  /** Contents of the notary's registration-number credential, if configured. */
  registrationCredential?: string | null;
  now?: Date;
  flavour?: Jws2020Flavour;
}

export interface ServedDocument {
  name: string;
  id: string;
  contentType: string;
  body: string;
}

export interface SelfDescription {
  format: SelfDescriptionFormat;
  createdAt: string;
  validUntil: string;
  presentation: ServedDocument;
  credentials: ServedDocument[];
  warnings: string[];
}

const LOIRE_REGISTRATION: Record<GaiaxSettings['registrationNumber']['type'], (v: string, cc: string) => Json> = {
  vatID: (v, cc) => ({ type: 'gx:VatID', vatID: v, countryCode: cc }),
  leiCode: (v, cc) => ({ type: 'gx:LeiCode', leiCode: v, countryCode: cc }),
  EORI: (v, cc) => ({ type: 'gx:EORI', eori: v, country: cc }),
  EUID: (v) => ({ type: 'gx:EUID', euid: v }),
  taxID: (v) => ({ type: 'gx:TaxID', 'https://schema.org/taxID': v }),
  local: (v) => ({ type: 'gx:LocalRegistrationNumber', local: v }),
};
const TAGUS_REGISTRATION: Partial<Record<GaiaxSettings['registrationNumber']['type'], string>> = {
  vatID: 'gx:vatID',
  leiCode: 'gx:leiCode',
  EORI: 'gx:EORI',
  EUID: 'gx:EUID',
  taxID: 'gx:taxID',
};

/** The Gaia-X T&C hashes the 25.11 shapes accept (gx:IssuerShape sh:in), in file order. */
export function loireTermsHashes(): string[] {
  const ttl = fs.readFileSync(path.join(GAIAX_SPEC_DIR, 'loire', 'gx.shacl.25.11.ttl'), 'utf8');
  const block = /gx:IssuerShape a sh:NodeShape[\s\S]*?sh:targetClass gx:Issuer \./.exec(ttl)?.[0] ?? '';
  const list = /sh:in \(([^)]*)\)/.exec(block)?.[1] ?? '';
  return [...list.matchAll(/"([0-9a-f]{64})"/g)].map((m) => m[1]!);
}

/** The exact 22.10 terms-and-conditions text (sh:hasValue of gx:GaiaXTermsAndConditionsShape). */
export function tagusTermsText(): string {
  const shapes = specJson(path.join('2210', 'trustframework-2210.shapes.jsonld')) as { '@graph': Json[] };
  const shape = shapes['@graph'].find((s) => s['@id'] === 'gx:GaiaXTermsAndConditionsShape');
  const property = ([] as unknown[]).concat(shape?.['sh:property'] ?? [])[0] as Json | undefined;
  const text = property?.['sh:hasValue'];
  if (typeof text !== 'string') throw new Error('the 22.10 shapes do not hold the terms-and-conditions text');
  return text;
}

/** Names the configuration keys a self-description needs and that are not set. */
export function missingSettings(s: GaiaxSettings): string[] {
  const missing: string[] = [];
  if (!s.legalName) missing.push('gaiax.legalName');
  if (!s.registrationNumber.value && !s.registrationNumber.credential) missing.push('gaiax.registrationNumber.value');
  if (!s.legalAddress.countrySubdivisionCode) missing.push('gaiax.legalAddress.countrySubdivisionCode');
  if (!s.serviceTerms.url) missing.push('gaiax.serviceTerms.url');
  if (!s.serviceTerms.hash) missing.push('gaiax.serviceTerms.hash');
  return missing;
}

const country = (subdivision: string) => subdivision.slice(0, 2).toUpperCase();
const anyUri = (url: string) => ({ '@value': url, '@type': 'xsd:anyURI' });

export async function createSelfDescription(input: ProducerInput): Promise<SelfDescription> {
  const { settings: s, identity, baseUrl } = input;
  const format = input.format ?? s.format;
  const missing = missingSettings(s);
  if (missing.length) throw new ConfigError(`a Gaia-X self-description needs ${missing.join(', ')} (see README, "Gaia-X self-descriptions")`);
  const now = input.now ?? new Date();
  let until = new Date(now.getTime() + s.validityDays * 86_400_000);
  if (identity.certificateNotAfter && identity.certificateNotAfter < until) until = identity.certificateNotAfter;
  const warnings: string[] = [];
  const url = (name: string) => `${baseUrl}${CREDENTIALS_PATH}/${name}`;
  const subject = (name: string) => `${url(name)}#cs`;
  const legal = s.legalAddress;
  const hq = s.headquartersAddress.countrySubdivisionCode ? s.headquartersAddress : legal;
  const lp = subject('legal-person');
  const so = subject('service-offering');
  const datasetName = (id: string) => `dataset-${encodeURIComponent(id)}`;

  // The registration number: the notary's credential as is, or a self-issued one.
  let registration: { subjectId: string; external?: string } = { subjectId: subject('registration-number') };
  if (input.registrationCredential) {
    const text = input.registrationCredential.trim();
    const isJwt = !text.startsWith('{');
    if (isJwt !== (format === 'loire')) {
      throw new HedgerowError('GAIAX_REGISTRATION_FORMAT', `gaiax.registrationNumber.credential is a ${isJwt ? 'VC-JWT (Loire)' : 'JSON-LD (22.10)'} credential, the self-description is ${format}`, { exitCode: 65 });
    }
    const vc = isJwt ? decodeCompactJws(text).payload : (JSON.parse(text) as Json);
    const cs = ([] as unknown[]).concat(vc.credentialSubject ?? [])[0] as Json | undefined;
    const id = cs?.id ?? cs?.['@id'];
    if (typeof id !== 'string') throw new HedgerowError('GAIAX_REGISTRATION_INVALID', 'the registration-number credential has no credentialSubject id', { exitCode: 65 });
    registration = { subjectId: id, external: text };
  } else {
    warnings.push('the registration number is self-issued: configure gaiax.registrationNumber.credential with the notary-issued credential');
  }

  const datasets = input.datasets.map((d) => ({ ...d, name: datasetName(d.id), subjectId: subject(datasetName(d.id)) }));
  const soName = `${s.legalName} dataspace connector`;
  const soDescription = `Data sharing under ODRL contracts over the Eclipse Dataspace Protocol 2025-1 at ${input.dspUrl}`;

  if (format === 'loire') {
    const address = (a: GaiaxSettings['legalAddress']): Json => ({
      type: 'gx:Address',
      countryCode: country(a.countrySubdivisionCode!),
      ...(a.streetAddress ? { 'vcard:street-address': a.streetAddress } : {}),
      ...(a.postalCode ? { 'vcard:postal-code': a.postalCode } : {}),
      ...(a.locality ? { 'vcard:locality': a.locality } : {}),
    });
    const hashes = loireTermsHashes();
    const subjects: Array<[string, string, Json]> = [
      ['legal-person', 'gx:LegalPerson', {
        id: lp,
        type: 'gx:LegalPerson',
        name: s.legalName,
        registrationNumber: { id: registration.subjectId },
        legalAddress: address(legal),
        headquartersAddress: address(hq),
      }],
      ['terms-and-conditions', 'gx:Issuer', { id: subject('terms-and-conditions'), type: 'gx:Issuer', gaiaxTermsAndConditions: hashes[hashes.length - 1] }],
      ['service-offering', 'gx:ServiceOffering', {
        id: so,
        type: 'gx:ServiceOffering',
        name: soName,
        description: soDescription,
        providedBy: { id: lp },
        serviceOfferingTermsAndConditions: [{ type: 'gx:TermsAndConditions', url: s.serviceTerms.url, hash: s.serviceTerms.hash }],
        ...(datasets.length ? { aggregationOfResources: datasets.map((d) => ({ id: d.subjectId })) } : {}),
      }],
      ...datasets.map((d): [string, string, Json] => [d.name, 'gx:DataResource', {
        id: d.subjectId,
        type: 'gx:DataResource',
        name: d.title ?? d.id,
        ...(d.description ? { description: d.description } : {}),
        ...(d.keywords?.length ? { keyword: d.keywords } : {}),
        resourcePolicy: JSON.stringify(d.offers),
        license: anyUri(`${input.dspUrl}/catalog/datasets/${encodeURIComponent(d.id)}`),
        copyrightOwnedBy: { id: lp },
        producedBy: { id: lp },
        exposedThrough: { id: so },
        containsPII: s.containsPII,
      }]),
    ];
    if (!registration.external) {
      const r = s.registrationNumber;
      subjects.splice(1, 0, ['registration-number', LOIRE_REGISTRATION[r.type](r.value!, '').type as string, {
        id: registration.subjectId,
        ...LOIRE_REGISTRATION[r.type](r.value!, country(legal.countrySubdivisionCode!)),
      }]);
    }
    const header = (typ: string, cty: string) => ({ alg: identity.alg, typ, cty, iss: identity.did, kid: identity.kid, iat: now.getTime(), exp: until.getTime() });
    const credentials: ServedDocument[] = [];
    for (const [name, type, cs] of subjects) {
      const vc: Json = {
        '@context': [CREDENTIALS_V2, GX_LOIRE],
        type: ['VerifiableCredential', type],
        id: url(name),
        issuer: identity.did,
        validFrom: now.toISOString(),
        validUntil: until.toISOString(),
        credentialSubject: cs,
      };
      credentials.push({ name, id: url(name), contentType: 'application/vc+jwt', body: await signCompactJws(vc, header('vc+jwt', 'vc'), identity.privateKey) });
    }
    const enveloped = [...credentials.map((c) => c.body), ...(registration.external ? [registration.external] : [])].map((jwt) => ({
      '@context': CREDENTIALS_V2,
      type: 'EnvelopedVerifiableCredential',
      id: `data:application/vc+jwt,${jwt}`,
    }));
    const vp: Json = {
      '@context': [CREDENTIALS_V2],
      type: ['VerifiablePresentation'],
      id: `${baseUrl}${SELF_DESCRIPTION_PATH}`,
      holder: identity.did,
      validFrom: now.toISOString(),
      validUntil: until.toISOString(),
      verifiableCredential: enveloped,
    };
    const body = await signCompactJws(vp, header('vp+jwt', 'vp'), identity.privateKey);
    return {
      format,
      createdAt: now.toISOString(),
      validUntil: until.toISOString(),
      presentation: { name: 'self-description', id: vp.id as string, contentType: 'application/vp+jwt', body },
      credentials,
      warnings,
    };
  }

  // ---- 22.10
  const tagusAddress = (a: GaiaxSettings['legalAddress']): Json => ({ 'gx:countrySubdivisionCode': a.countrySubdivisionCode });
  const subjects: Array<[string, Json]> = [
    ['legal-person', {
      id: lp,
      type: 'gx:LegalParticipant',
      'gx:legalName': s.legalName,
      'gx:legalRegistrationNumber': { id: registration.subjectId },
      'gx:headquarterAddress': tagusAddress(hq),
      'gx:legalAddress': tagusAddress(legal),
    }],
    ['terms-and-conditions', { id: subject('terms-and-conditions'), type: 'gx:GaiaXTermsAndConditions', 'gx:termsAndConditions': tagusTermsText() }],
    ['service-offering', {
      id: so,
      type: 'gx:ServiceOffering',
      'gx:providedBy': { id: lp },
      'gx:policy': soDescription,
      'gx:termsAndConditions': { 'gx:URL': s.serviceTerms.url, 'gx:hash': s.serviceTerms.hash },
      'gx:dataAccountExport': { 'gx:requestType': 'API', 'gx:accessType': 'digital', 'gx:formatType': 'application/json' },
      ...(datasets.length ? { 'gx:aggregationOf': datasets.map((d) => ({ id: d.subjectId })) } : {}),
    }],
    ...datasets.map((d): [string, Json] => [d.name, {
      id: d.subjectId,
      type: 'gx:DataResource',
      'gx:name': d.title ?? d.id,
      ...(d.description ? { 'gx:description': d.description } : {}),
      'gx:policy': JSON.stringify(d.offers),
      'gx:license': `${input.dspUrl}/catalog/datasets/${encodeURIComponent(d.id)}`,
      'gx:copyrightOwnedBy': { id: lp },
      'gx:producedBy': { id: lp },
      'gx:exposedThrough': { id: so },
      'gx:containsPII': s.containsPII,
    }]),
  ];
  if (!registration.external) {
    const key = TAGUS_REGISTRATION[s.registrationNumber.type];
    if (!key) throw new ConfigError(`gaiax.registrationNumber.type "${s.registrationNumber.type}" has no 22.10 equivalent: use vatID, leiCode, EORI, EUID or taxID`);
    subjects.splice(1, 0, ['registration-number', { id: registration.subjectId, type: 'gx:legalRegistrationNumber', [key]: s.registrationNumber.value }]);
  }
  const credentials: ServedDocument[] = [];
  const signedVcs: Json[] = [];
  for (const [name, cs] of subjects) {
    const vc: Json = {
      '@context': [CREDENTIALS_V1, JWS2020_CONTEXT, GX_2210],
      type: ['VerifiableCredential'],
      id: url(name),
      issuer: identity.did,
      issuanceDate: now.toISOString(),
      expirationDate: until.toISOString(),
      credentialSubject: cs,
    };
    const signed = await signJws2020(vc, { key: identity.privateKey, alg: identity.alg, verificationMethod: identity.kid, created: now, flavour: input.flavour ?? 'gaia-x' });
    signedVcs.push(signed);
    credentials.push({ name, id: url(name), contentType: 'application/json', body: JSON.stringify(signed, null, 2) });
  }
  if (registration.external) signedVcs.push(JSON.parse(registration.external) as Json);
  const vp = { '@context': CREDENTIALS_V1, type: 'VerifiablePresentation', id: `${baseUrl}${SELF_DESCRIPTION_PATH}`, verifiableCredential: signedVcs };
  return {
    format,
    createdAt: now.toISOString(),
    validUntil: until.toISOString(),
    presentation: { name: 'self-description', id: vp.id, contentType: 'application/json', body: JSON.stringify(vp, null, 2) },
    credentials,
    warnings,
  };
}

/**
 * Cross-credential rules (verifier step 8), pure functions over the decoded credentials of a presentation
 * (NOTES §6.1 step 3, §6.2 step 4, §7 stage F):
 * - every credential id and subject id is an absolute IRI (relative ids are silently dropped by JSON-LD, so the data
 *   they carry would be neither signed nor validated);
 * - exactly one legal person (Loire gx:LegalPerson, 22.10 gx:LegalParticipant), issued by the presentation's holder;
 * - its registration number is a credential of the presentation issued by a trusted notary;
 * - Gaia-X terms and conditions (Loire gx:Issuer, 22.10 gx:GaiaXTermsAndConditions) from every issuer that is not a
 *   trusted notary or trusted issuer;
 * - a service offering's provider is the legal person of its own issuer; likewise a data resource's producer.
 */
import type { Json } from './jws';

export interface RuleCredential {
  label: string;
  id: unknown;
  issuer: string | undefined;
  /** Local names of the credential's and its subjects' types (prefix stripped): LegalPerson, VatID, ... */
  types: string[];
  subjects: Json[];
  /** The subjects' ids as written, when `subjects` is the signed graph (JSON-LD drops relative ids from it). */
  writtenSubjectIds?: Array<string | undefined>;
}

export interface RuleFinding {
  code: string;
  credential: string;
  message: string;
}

export interface RuleSettings {
  trustedNotaries: string[];
  trustedIssuers: string[];
}

const REGISTRATION_TYPES = new Set(['VatID', 'LeiCode', 'EORI', 'EUID', 'TaxID', 'LocalRegistrationNumber', 'legalRegistrationNumber', 'RegistrationNumber']);
const LEGAL_PERSON_TYPES = new Set(['LegalPerson', 'LegalParticipant']);
const TERMS_TYPES = new Set(['Issuer', 'GaiaXTermsAndConditions']);

export const localName = (iri: string) => iri.replace(/^.*[#:/]/, '');

export function typesOf(node: unknown): string[] {
  if (!node || typeof node !== 'object') return [];
  const raw = (node as Json).type ?? (node as Json)['@type'];
  return ([] as unknown[]).concat(raw ?? []).filter((t): t is string => typeof t === 'string').map(localName);
}

export function subjectsOf(vc: Json): Json[] {
  return ([] as unknown[]).concat(vc.credentialSubject ?? []).filter((s): s is Json => typeof s === 'object' && s !== null);
}

export function idOf(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object') {
    const id = (node as Json).id ?? (node as Json)['@id'];
    return typeof id === 'string' ? id : undefined;
  }
  return undefined;
}

/** Values of a property whatever prefix it was written with (`x`, `gx:x`, `https://…#x`). */
export function prop(node: Json, name: string): unknown[] {
  const out: unknown[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === name || key.endsWith(`:${name}`) || key.endsWith(`#${name}`) || key.endsWith(`/${name}`)) out.push(...([] as unknown[]).concat(value));
  }
  return out;
}

export const refIds = (node: Json, name: string): string[] => prop(node, name).map(idOf).filter((v): v is string => !!v);

const isAbsoluteIri = (v: unknown) => typeof v === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]+$/.test(v);

export function checkRules(
  credentials: RuleCredential[],
  ctx: { holder?: string; presentation: boolean; settings: RuleSettings },
): { findings: RuleFinding[]; checked: string[] } {
  const findings: RuleFinding[] = [];
  const checked: string[] = ['absolute ids'];
  const add = (code: string, credential: string, message: string) => findings.push({ code, credential, message });

  for (const c of credentials) {
    if (!isAbsoluteIri(c.id)) add('ID_NOT_IRI', c.label, `the credential id ${JSON.stringify(c.id)} is not an absolute IRI`);
    for (const id of c.writtenSubjectIds ?? c.subjects.map(idOf)) {
      if (id !== undefined && !isAbsoluteIri(id)) add('ID_NOT_IRI', c.label, `the subject id ${JSON.stringify(id)} is not an absolute IRI`);
    }
  }

  // Subject id → the credential that describes it.
  const bySubject = new Map<string, { credential: RuleCredential; subject: Json }>();
  for (const c of credentials) for (const s of c.subjects) if (idOf(s)) bySubject.set(idOf(s)!, { credential: c, subject: s });
  const notaries = new Set(ctx.settings.trustedNotaries);
  const exempt = new Set([...ctx.settings.trustedNotaries, ...ctx.settings.trustedIssuers]);

  const legalPersons = credentials.filter((c) => c.types.some((t) => LEGAL_PERSON_TYPES.has(t)));
  if (ctx.presentation) {
    checked.push('one legal person', 'registration number from a trusted notary', 'terms and conditions');
    if (legalPersons.length !== 1) {
      add('LEGAL_PERSON_MISSING', 'presentation', `the presentation holds ${legalPersons.length} legal person credentials, exactly one is required`);
    }
    for (const lp of legalPersons) {
      if (ctx.holder && lp.issuer !== ctx.holder) add('HOLDER_MISMATCH', lp.label, `the legal person is issued by ${lp.issuer}, the presentation by ${ctx.holder}`);
      const subject = lp.subjects.find((s) => typesOf(s).some((t) => LEGAL_PERSON_TYPES.has(t))) ?? lp.subjects[0];
      const refs = subject ? [...refIds(subject, 'registrationNumber'), ...refIds(subject, 'legalRegistrationNumber')] : [];
      if (!refs.length) add('REGISTRATION_NUMBER_MISSING', lp.label, 'the legal person names no registration number');
      for (const ref of refs) {
        const target = bySubject.get(ref);
        if (!target || ![...target.credential.types, ...typesOf(target.subject)].some((t) => REGISTRATION_TYPES.has(t))) {
          add('REGISTRATION_NUMBER_MISSING', lp.label, `no registration-number credential in the presentation describes ${ref}`);
        } else if (!target.credential.issuer || !notaries.has(target.credential.issuer)) {
          add('NOTARY_UNTRUSTED', target.credential.label, `the registration number ${ref} is issued by ${target.credential.issuer ?? '(no issuer)'}, which is not a trusted notary (gaiax.trustedNotaries)`);
        }
      }
    }
    const issuers = new Set(credentials.map((c) => c.issuer).filter((i): i is string => !!i));
    for (const issuer of issuers) {
      if (exempt.has(issuer)) continue;
      const accepted = credentials.some((c) => c.issuer === issuer && c.types.some((t) => TERMS_TYPES.has(t)));
      if (!accepted) add('TERMS_MISSING', issuer, `no Gaia-X terms-and-conditions credential (gx:Issuer / gx:GaiaXTermsAndConditions) issued by ${issuer}`);
    }
  }

  for (const c of credentials) {
    for (const s of c.subjects) {
      const types = typesOf(s).concat(c.types);
      const links: Array<[string, string]> = [];
      if (types.includes('ServiceOffering')) links.push(['providedBy', 'provider']);
      if (types.includes('DataResource')) links.push(['producedBy', 'producer']);
      for (const [name, role] of links) {
        if (!checked.includes('provider is the issuer')) checked.push('provider is the issuer');
        for (const ref of refIds(s, name)) {
          const target = bySubject.get(ref);
          if (!target || !target.credential.types.concat(typesOf(target.subject)).some((t) => LEGAL_PERSON_TYPES.has(t))) {
            if (ctx.presentation) add('PROVIDER_MISSING', c.label, `the ${role} ${ref} is not a legal person of the presentation`);
          } else if (target.credential.issuer !== c.issuer) {
            add('PROVIDER_MISMATCH', c.label, `the ${role} ${ref} is described by ${target.credential.issuer}, but this credential is issued by ${c.issuer}`);
          }
        }
      }
    }
  }
  return { findings, checked };
}

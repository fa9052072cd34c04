/**
 * Validation of DSP 2025-1 messages against the official JSON schemas shipped in `spec/dsp-2025-1/`
 * (verbatim upstream copies, see the README there). Inbound bodies are checked before dispatching on
 * `@type`; outbound ones before they are sent, so that a peer never sees a message we built wrongly.
 * Everything is local: schemas are read from the package, never fetched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Ajv2019 from 'ajv/dist/2019';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2019';
import { ajv2019Lib } from '../../lazy';
import { PACKAGE_ROOT } from '../../config/load';
import { JSON_TOO_DEEP, jsonTooDeep } from '../../json-depth';

export const DSP_CONTEXT = 'https://w3id.org/dspace/2025/1/context.jsonld';

/** The `@context` every DSP 2025-1 message carries (the schemas require an array containing DSP_CONTEXT). */
export function dspContext(): string[] {
  return [DSP_CONTEXT];
}

export const DSP_SCHEMA_DIR = path.join(PACKAGE_ROOT, 'spec', 'dsp-2025-1');
const SCHEMA_AREAS = ['catalog', 'common', 'negotiation', 'transfer'];
/** A schema's `$id` is this base plus its path under DSP_SCHEMA_DIR. */
const SCHEMA_ID_BASE = 'https://w3id.org/dspace/2025/1/';

/** Each top-level message type and the schema file (under DSP_SCHEMA_DIR) that describes it. */
const MESSAGE_SCHEMAS = {
  CatalogRequestMessage: 'catalog/catalog-request-message-schema.json',
  Catalog: 'catalog/catalog-schema.json',
  Dataset: 'catalog/dataset-schema.json',
  CatalogError: 'catalog/catalog-error-schema.json',
  ContractRequestMessage: 'negotiation/contract-request-message-schema.json',
  ContractOfferMessage: 'negotiation/contract-offer-message-schema.json',
  ContractAgreementMessage: 'negotiation/contract-agreement-message-schema.json',
  ContractAgreementVerificationMessage: 'negotiation/contract-agreement-verification-message-schema.json',
  ContractNegotiationEventMessage: 'negotiation/contract-negotiation-event-message-schema.json',
  ContractNegotiationTerminationMessage: 'negotiation/contract-negotiation-termination-message-schema.json',
  ContractNegotiation: 'negotiation/contract-negotiation-schema.json',
  ContractNegotiationError: 'negotiation/contract-negotiation-error-schema.json',
  TransferRequestMessage: 'transfer/transfer-request-message-schema.json',
  TransferStartMessage: 'transfer/transfer-start-message-schema.json',
  TransferSuspensionMessage: 'transfer/transfer-suspension-message-schema.json',
  TransferCompletionMessage: 'transfer/transfer-completion-message-schema.json',
  TransferTerminationMessage: 'transfer/transfer-termination-message-schema.json',
  TransferProcess: 'transfer/transfer-process-schema.json',
  TransferError: 'transfer/transfer-error-schema.json',
  VersionResponse: 'common/protocol-version-schema.json',
} as const;

export type DspMessageType = keyof typeof MESSAGE_SCHEMAS;

export const DSP_MESSAGE_TYPES = Object.keys(MESSAGE_SCHEMAS) as DspMessageType[];

/** The version response is plain JSON without `@type`: it is recognised only where the caller expects it. */
const UNTYPED_MESSAGE: DspMessageType = 'VersionResponse';

export interface DspValidationIssue {
  /** JSON pointer of the offending value (for a missing property: where it should be). */
  path: string;
  message: string;
}

export type DspValidationResult =
  | { ok: true; type: DspMessageType }
  | { ok: false; type?: string; errors: DspValidationIssue[] };

let registry: Ajv2019 | undefined;
const validators = new Map<DspMessageType, ValidateFunction>();

/** Read and register every schema under its `$id` (once), so cross-file `$ref`s resolve offline. */
function loadSchemas(): Ajv2019 {
  // strict off: the upstream schemas use `items`/`required` without `type` and `required` naming
  // properties a branch does not define, which Ajv's strict mode rejects although they are valid 2019-09.
  // validateSchema off: these fixed files are covered by the tests; checking them against the
  // meta-schema on every start would cost ~30 ms. verbose: errors carry their schema, used to phrase them.
  const ajv = new (ajv2019Lib())({ strict: false, allErrors: false, validateSchema: false, verbose: true });
  for (const area of SCHEMA_AREAS) {
    const dir = path.join(DSP_SCHEMA_DIR, area);
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('-schema.json'))) {
      // Upstream defect: three transfer schemas reference `…#definitions/X` (JSON pointer without its
      // leading slash), which Ajv cannot resolve. Patch the text in memory; the files stay verbatim.
      const text = fs.readFileSync(path.join(dir, file), 'utf8').replaceAll('#definitions/', '#/definitions/');
      ajv.addSchema(JSON.parse(text) as object);
    }
  }
  return ajv;
}

/** Compiled on first use of each type (a few ms each), then cached. */
function validatorFor(type: DspMessageType): ValidateFunction {
  let validate = validators.get(type);
  if (!validate) {
    registry ??= loadSchemas();
    const id = SCHEMA_ID_BASE + MESSAGE_SCHEMAS[type];
    validate = registry.getSchema(id);
    if (!validate) throw new Error(`DSP schema ${id} is missing from ${DSP_SCHEMA_DIR}`);
    validators.set(type, validate);
  }
  return validate;
}

const isJsonObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDspMessageType = (t: string): t is DspMessageType => Object.hasOwn(MESSAGE_SCHEMAS, t);
/** ['a', 'b', 'c'] → "a, b or c" */
const list = (items: readonly string[], conjunction: string): string =>
  items.length > 1 ? `${items.slice(0, -1).join(', ')} ${conjunction} ${items[items.length - 1]}` : (items[0] ?? '');
const quoted = (names: readonly unknown[], conjunction: string): string => list(names.map((n) => `'${String(n)}'`), conjunction);
const pointer = (base: string, property: string) => `${base}/${property.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * Validate a DSP message: a JSON object whose `@type` is a known (and, if `expected` is given, an
 * accepted) message type, then its schema. Never throws on bad input. Reports the first problem only.
 */
export function validateDspMessage(body: unknown, expected?: DspMessageType | DspMessageType[]): DspValidationResult {
  const accepted = expected === undefined ? undefined : ([] as DspMessageType[]).concat(expected);
  const fail = (path: string, message: string, type?: string): DspValidationResult => ({
    ok: false,
    ...(type === undefined ? {} : { type }),
    errors: [{ path, message }],
  });

  if (!isJsonObject(body)) return fail('', 'must be a JSON object');
  // Ajv recurses with the data: a deeply nested peer message would overflow the stack.
  if (jsonTooDeep(body)) return fail('', JSON_TOO_DEEP);
  const declared = body['@type'];
  let type: DspMessageType;
  if (declared === undefined && accepted?.includes(UNTYPED_MESSAGE)) type = UNTYPED_MESSAGE;
  else if (declared === undefined) return fail('/@type', "must have required property '@type'");
  else if (typeof declared !== 'string') return fail('/@type', 'must be a string (one message type name)');
  else if (!isDspMessageType(declared)) return fail('/@type', unknownTypeMessage(declared), declared);
  else type = declared;

  if (accepted && !accepted.includes(type)) {
    return fail('/@type', `'${type}' is not accepted here; expected ${quoted(accepted, 'or')}`, type);
  }
  const validate = validatorFor(type);
  if (validate(body)) return { ok: true, type };
  return { ok: false, type, errors: [describeFailure(validate.errors ?? [])] };
}

/**
 * For messages we send: a message that fails its schema is our bug, not the peer's, so this throws a
 * plain Error. Pass `type` for messages without `@type` (the version response).
 */
export function assertValidOutbound(body: object, type?: DspMessageType): void {
  const result = validateDspMessage(body, type);
  if (result.ok) return;
  const [first] = result.errors;
  const where = first!.path || '/';
  throw new Error(`outbound DSP ${result.type ?? 'message'} does not match its schema: ${where}: ${first!.message}`);
}

function unknownTypeMessage(declared: string): string {
  const local = declared.slice(declared.lastIndexOf(':') + 1);
  // Most likely a 2024-1 peer: that version used prefixed names (`dspace:ContractRequestMessage`).
  const hint = local !== declared && isDspMessageType(local) ? `; DSP 2025-1 uses un-prefixed names such as '${local}'` : '';
  return `unknown message type '${declared}'${hint}`;
}

/**
 * With allErrors off Ajv stops at the first failing keyword; if that is a oneOf/anyOf, the errors
 * before it are those of its failed branches. Report the most telling one in plain words.
 */
function describeFailure(errors: ErrorObject[]): DspValidationIssue {
  const top = errors[errors.length - 1];
  if (!top) return { path: '', message: 'does not match its schema' };
  if (top.instancePath === '/@context' || top.instancePath.startsWith('/@context/')) {
    return { path: '/@context', message: `must be an array of strings containing '${DSP_CONTEXT}'` };
  }
  if (top.keyword !== 'oneOf' && top.keyword !== 'anyOf') return describeKeyword(top);

  const alternatives = requiredAlternatives(top.schema);
  if (alternatives) {
    const names = quoted(alternatives, 'or');
    return { path: top.instancePath, message: top.keyword === 'oneOf' ? `exactly one of ${names} must be present` : `must have ${names}` };
  }
  const branchErrors = errors.slice(0, -1);
  // A single-branch composite (`anyOf: [{not: …}]`) fails exactly as its branch does.
  if (Array.isArray(top.schema) && top.schema.length === 1 && branchErrors.length > 0) return describeFailure(branchErrors);
  // A failure inside the value (deeper than the composite) says more than "matches no branch". Errors
  // come children first, so the last one at the deepest path is the outermost failure there.
  const maxDepth = Math.max(...branchErrors.map(depth));
  if (maxDepth > depth(top) && !top.params.passingSchemas) {
    const at = branchErrors.findLastIndex((e) => depth(e) === maxDepth);
    const cause = branchErrors[at]!;
    return describeFailure([...branchErrors.slice(0, at).filter((e) => e.instancePath.startsWith(cause.instancePath)), cause]);
  }
  const shapes = shapeNames(top.schema);
  if (top.params.passingSchemas) {
    return { path: top.instancePath, message: `must match exactly one of ${shapes ? list(shapes, 'and') : 'the allowed shapes'}, not several` };
  }
  return { path: top.instancePath, message: shapes ? `must be ${list(shapes, 'or')}` : 'matches none of the allowed shapes' };
}

const depth = (e: ErrorObject) => e.instancePath.split('/').length;

/** `oneOf: [{required: [a]}, {required: [b]}]` → [a, b]; anything else → undefined. */
function requiredAlternatives(branches: unknown): string[] | undefined {
  if (!Array.isArray(branches)) return undefined;
  const names = branches.map((b) =>
    isJsonObject(b) && Object.keys(b).length === 1 && Array.isArray(b.required) && b.required.length === 1 ? b.required[0] : undefined,
  );
  return names.every((n): n is string => typeof n === 'string') ? names : undefined;
}

/** `oneOf: [{type: string}, {$ref: …/DataService}]` → ['string', 'DataService']; anything else → undefined. */
function shapeNames(branches: unknown): string[] | undefined {
  if (!Array.isArray(branches)) return undefined;
  const names = branches.map((b) => {
    if (!isJsonObject(b)) return undefined;
    if (typeof b.$ref === 'string') return b.$ref.slice(b.$ref.lastIndexOf('/') + 1);
    return typeof b.type === 'string' ? b.type : undefined;
  });
  return names.every((n): n is string => n !== undefined) ? names : undefined;
}

function describeKeyword(e: ErrorObject): DspValidationIssue {
  const at = e.instancePath;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: pointer(at, String(p.missingProperty)), message: `must have required property '${String(p.missingProperty)}'` };
    case 'not': {
      const forbidden = isJsonObject(e.schema) && Array.isArray(e.schema.required) ? e.schema.required.map(String) : [];
      return forbidden.length === 1
        ? { path: pointer(at, forbidden[0]!), message: 'must not be present here' }
        : { path: at, message: 'must not match the forbidden shape' };
    }
    case 'enum':
      return { path: at, message: `must be one of ${quoted(p.allowedValues as unknown[], 'or')}` };
    case 'const':
      return { path: at, message: `must be '${String(p.allowedValue)}'` };
    case 'minItems':
      return { path: at, message: p.limit === 1 ? 'must not be empty' : `must have at least ${String(p.limit)} items` };
    case 'pattern':
      // The only pattern in the message schemas is the Agreement timestamp's (xsd:dateTime), too long to quote.
      if (at.endsWith('/timestamp')) return { path: at, message: 'must be an xsd:dateTime such as 2025-01-31T12:00:00Z' };
      return { path: at, message: `must match pattern ${String(p.pattern)}` };
    default:
      return { path: at, message: e.message ?? `fails '${e.keyword}'` };
  }
}

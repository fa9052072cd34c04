import fs from 'node:fs';
import path from 'node:path';
import {
  assertValidOutbound,
  DSP_CONTEXT,
  DSP_MESSAGE_TYPES,
  dspContext,
  validateDspMessage,
  type DspMessageType,
} from '../../src/protocol/dsp/schema-validator';
import { DSP_NS, expandDsp } from '../helpers/dsp-jsonld';
import { MAX_CONSTRAINT_DEPTH } from '../../src/policy';
import { MAX_JSON_DEPTH, jsonTooDeep } from '../../src/json-depth';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'dsp');

interface Fixture {
  file: string;
  /** The message type the fixture is (or tries to be): its file name up to the first dot. */
  type: DspMessageType;
  body: Record<string, unknown>;
}

function fixtures(kind: 'valid' | 'invalid'): Fixture[] {
  return fs
    .readdirSync(path.join(FIXTURES, kind))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      type: file.split('.')[0] as DspMessageType,
      body: JSON.parse(fs.readFileSync(path.join(FIXTURES, kind, file), 'utf8')) as Record<string, unknown>,
    }));
}

const valid = fixtures('valid');
const invalid = fixtures('invalid');
const byName = (file: string) => valid.find((f) => f.file === file)!.body;

/** The version response has no `@type`: it is only recognised where it is expected. */
const expectedFor = (type: DspMessageType) => (type === 'VersionResponse' ? type : undefined);

/** Where each invalid fixture must be reported, and (optionally) what the message must say. */
const INVALID: Record<string, { path: string; message?: RegExp }> = {
  'Catalog.empty-dataset-array.json': { path: '/dataset', message: /must not be empty/ },
  'Catalog.offer-with-target.json': { path: '/dataset/0/hasPolicy/0/target', message: /must not be present/ },
  'Catalog.service-without-endpointURL.json': { path: '/service/0/endpointURL' },
  'Catalog.with-hasPolicy.json': { path: '/hasPolicy', message: /must not be present/ },
  'Catalog.without-participantId.json': { path: '/participantId', message: /required property 'participantId'/ },
  'CatalogError.numeric-code.json': { path: '/code', message: /must be string/ },
  'CatalogRequestMessage.filter-object.json': { path: '/filter', message: /must be array/ },
  'ContractAgreementMessage.agreement-typed-offer.json': { path: '/agreement/@type', message: /must be 'Agreement'/ },
  'ContractAgreementMessage.constraint-both-and-and-or.json': { path: '/agreement/permission/0/constraint/0', message: /LogicalConstraint or AtomicConstraint/ },
  'ContractAgreementMessage.constraint-without-rightOperand.json': { path: '/agreement/permission/0/constraint/0' },
  'ContractAgreementMessage.date-only-timestamp.json': { path: '/agreement/timestamp', message: /xsd:dateTime/ },
  'ContractAgreementMessage.nested-bad-operator.json': { path: '/agreement/permission/0/constraint/0/and/1/or/0/operator', message: /must be one of 'eq'/ },
  'ContractAgreementMessage.numeric-rightOperand.json': { path: '/agreement/permission/0/constraint/0/rightOperand', message: /string, object or array/ },
  'ContractAgreementMessage.without-assigner.json': { path: '/agreement/assigner', message: /required property 'assigner'/ },
  'ContractAgreementVerificationMessage.numeric-consumerPid.json': { path: '/consumerPid' },
  'ContractNegotiation.context-2024.json': { path: '/@context', message: /containing 'https:\/\/w3id.org\/dspace\/2025\/1\/context.jsonld'/ },
  'ContractNegotiation.prefixed-state.json': { path: '/state', message: /must be one of 'REQUESTED'/ },
  'ContractNegotiation.type-array.json': { path: '/@type', message: /must be a string/ },
  'ContractNegotiation.unknown-type.json': { path: '/@type', message: /unknown message type 'ContractNegotiationState'/ },
  'ContractNegotiation.without-providerPid.json': { path: '/providerPid' },
  'ContractNegotiationError.reason-string.json': { path: '/reason', message: /must be array/ },
  'ContractNegotiationEventMessage.unknown-eventType.json': { path: '/eventType', message: /'ACCEPTED' or 'FINALIZED'/ },
  'ContractNegotiationTerminationMessage.empty-reason.json': { path: '/reason', message: /must not be empty/ },
  'ContractOfferMessage.both-consumerPid-and-callbackAddress.json': { path: '', message: /^exactly one of 'callbackAddress' or 'consumerPid' must be present$/ },
  'ContractOfferMessage.offer-without-target.json': { path: '/offer/target', message: /required property 'target'/ },
  'ContractRequestMessage.both-providerPid-and-callbackAddress.json': { path: '', message: /^exactly one of 'callbackAddress' or 'providerPid' must be present$/ },
  'ContractRequestMessage.context-string.json': { path: '/@context', message: /must be an array/ },
  'ContractRequestMessage.missing-type.json': { path: '/@type', message: /required property '@type'/ },
  'ContractRequestMessage.neither-providerPid-nor-callbackAddress.json': { path: '', message: /^exactly one of 'callbackAddress' or 'providerPid' must be present$/ },
  'ContractRequestMessage.offer-without-rules.json': { path: '/offer', message: /'permission' or 'prohibition'/ },
  'ContractRequestMessage.offer-without-type.json': { path: '/offer/@type', message: /required property '@type'/ },
  'ContractRequestMessage.prefixed-type.json': { path: '/@type', message: /un-prefixed names such as 'ContractRequestMessage'/ },
  'ContractRequestMessage.rule-without-action.json': { path: '/offer/permission/0/action' },
  'ContractRequestMessage.without-offer.json': { path: '/offer', message: /required property 'offer'/ },
  'Dataset.distribution-without-format.json': { path: '/distribution/0/format' },
  'Dataset.inline-service-without-endpointURL.json': { path: '/distribution/0/accessService', message: /string or DataService/ },
  'Dataset.without-distribution.json': { path: '/distribution' },
  'TransferCompletionMessage.without-context.json': { path: '/@context' },
  'TransferError.without-consumerPid.json': { path: '/consumerPid' },
  'TransferProcess.prefixed-type.json': { path: '/@type', message: /un-prefixed names such as 'TransferProcess'/ },
  'TransferProcess.unknown-state.json': { path: '/state', message: /'SUSPENDED'/ },
  'TransferRequestMessage.empty-endpointProperties.json': { path: '/dataAddress/endpointProperties', message: /must not be empty/ },
  'TransferRequestMessage.without-callbackAddress.json': { path: '/callbackAddress' },
  'TransferRequestMessage.without-format.json': { path: '/format', message: /required property 'format'/ },
  'TransferStartMessage.dataAddress-without-endpointType.json': { path: '/dataAddress/endpointType' },
  'TransferStartMessage.dataAddress-without-type.json': { path: '/dataAddress/@type' },
  'TransferStartMessage.endpointProperty-without-value.json': { path: '/dataAddress/endpointProperties/1/value' },
  'TransferSuspensionMessage.reason-string.json': { path: '/reason' },
  'TransferTerminationMessage.without-providerPid.json': { path: '/providerPid' },
  'VersionResponse.empty-protocolVersions.json': { path: '/protocolVersions', message: /must not be empty/ },
  'VersionResponse.unknown-binding.json': { path: '/protocolVersions/0/binding', message: /'HTTPS'/ },
};

describe('DSP 2025-1 schema validation', () => {
  it('has valid fixtures for every message type', () => {
    expect(new Set(valid.map((f) => f.type))).toEqual(new Set(DSP_MESSAGE_TYPES));
  });

  it.each(valid.map((f) => [f.file, f] as const))('accepts %s', (_file, { type, body }) => {
    expect(validateDspMessage(body, expectedFor(type))).toEqual({ ok: true, type });
    expect(validateDspMessage(body, [type])).toEqual({ ok: true, type });
  });

  it('has an expectation for every invalid fixture and a fixture for every expectation', () => {
    expect(invalid.map((f) => f.file)).toEqual(Object.keys(INVALID).sort());
  });

  it.each(invalid.map((f) => [f.file, f] as const))('rejects %s at the right place', (file, { type, body }) => {
    const result = validateDspMessage(body, expectedFor(type));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors;
    expect(error!.path).toBe(INVALID[file]!.path);
    if (INVALID[file]!.message) expect(error!.message).toMatch(INVALID[file]!.message!);
  });

  it('rejects a known type where another is expected, naming the expected ones', () => {
    const negotiation = byName('ContractNegotiation.json');
    expect(validateDspMessage(negotiation, 'TransferProcess')).toEqual({
      ok: false,
      type: 'ContractNegotiation',
      errors: [{ path: '/@type', message: "'ContractNegotiation' is not accepted here; expected 'TransferProcess'" }],
    });
    const either = validateDspMessage(negotiation, ['ContractRequestMessage', 'ContractOfferMessage']);
    expect(either.ok).toBe(false);
    if (!either.ok) expect(either.errors[0]!.message).toMatch(/expected 'ContractRequestMessage' or 'ContractOfferMessage'/);
  });

  it('recognises the untyped version response only where it is expected', () => {
    const versions = byName('VersionResponse.json');
    expect(validateDspMessage(versions)).toMatchObject({ ok: false, errors: [{ path: '/@type' }] });
    expect(validateDspMessage(versions, 'ContractNegotiation')).toMatchObject({ ok: false, errors: [{ path: '/@type' }] });
    expect(validateDspMessage(versions, ['ContractNegotiation', 'VersionResponse'])).toEqual({ ok: true, type: 'VersionResponse' });
  });

  it.each([
    ['null', null],
    ['an array', [byName('ContractNegotiation.json')]],
    ['a string', JSON.stringify(byName('ContractNegotiation.json'))],
    ['a number', 42],
    ['a boolean', true],
    ['undefined', undefined],
  ])('rejects %s as a body without throwing', (_what, body) => {
    expect(validateDspMessage(body)).toEqual({ ok: false, errors: [{ path: '', message: 'must be a JSON object' }] });
    expect(validateDspMessage(body, 'VersionResponse').ok).toBe(false);
  });

  it('does not treat inherited object keys as message types', () => {
    expect(validateDspMessage({ '@context': dspContext(), '@type': 'toString' })).toMatchObject({ ok: false, errors: [{ path: '/@type' }] });
  });

  it('assertValidOutbound passes valid messages and throws a plain Error naming type and problem otherwise', () => {
    expect(() => assertValidOutbound(byName('ContractRequestMessage.initial.json'))).not.toThrow();
    expect(() => assertValidOutbound(byName('VersionResponse.json'), 'VersionResponse')).not.toThrow();
    const { callbackAddress: _omitted, ...withoutCallback } = byName('ContractRequestMessage.initial.json');
    let thrown: unknown;
    try {
      assertValidOutbound(withoutCallback);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).constructor).toBe(Error);
    expect((thrown as Error).message).toBe(
      "outbound DSP ContractRequestMessage does not match its schema: /: exactly one of 'callbackAddress' or 'providerPid' must be present",
    );
  });

  it('refuses deeply nested messages without throwing, and still takes the deepest policy the policy validator allows', () => {
    const nested = (depth: number) => {
      let c: Record<string, unknown> = { leftOperand: 'purpose', operator: 'eq', rightOperand: 'x' };
      for (let i = 0; i < depth; i++) c = { and: [c] };
      return c;
    };
    const catalogWith = (constraint: Record<string, unknown>) => {
      const catalog = structuredClone(byName('Catalog.json')) as any;
      catalog.dataset[0].hasPolicy[0].permission[0].constraint = [constraint];
      return catalog;
    };
    // ~30 KB: Ajv recursed into a RangeError here.
    expect(validateDspMessage(catalogWith(nested(3000)), 'Catalog')).toEqual({ ok: false, errors: [{ path: '', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` }] });
    expect(validateDspMessage(catalogWith(nested(MAX_CONSTRAINT_DEPTH)), 'Catalog')).toEqual({ ok: true, type: 'Catalog' });
  });

  it('jsonTooDeep counts object and array levels without recursing', () => {
    const arrays = (n: number): unknown => JSON.parse('['.repeat(n) + ']'.repeat(n));
    expect(jsonTooDeep(arrays(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonTooDeep(arrays(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonTooDeep({ a: [{ b: 'x' }] }, 3)).toBe(false);
    expect(jsonTooDeep({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(jsonTooDeep('scalar', 0)).toBe(false);
    expect(jsonTooDeep(arrays(500_000))).toBe(true);
  });

  it('dspContext() is a fresh array holding the DSP 2025-1 context', () => {
    expect(dspContext()).toEqual([DSP_CONTEXT]);
    expect(dspContext()).not.toBe(dspContext());
  });

  it('validates a typical message in microseconds', () => {
    const agreement = byName('ContractAgreementMessage.logical-constraints.json');
    validateDspMessage(agreement);
    const rounds = 2000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) validateDspMessage(agreement);
    const microsEach = Number(process.hrtime.bigint() - start) / 1000 / rounds;
    // Typically ~2 µs; the bound only catches an accidental recompilation per call (milliseconds).
    expect(microsEach).toBeLessThan(200);
  });
});

describe('DSP 2025-1 JSON-LD expansion (offline, as the TCK does it)', () => {
  const DCAT = 'http://www.w3.org/ns/dcat#';
  const typeIri = (type: DspMessageType) => (type === 'Catalog' || type === 'Dataset' ? DCAT : DSP_NS) + type;
  type Node = Record<string, unknown[]>;

  // The version response is plain JSON without a context: nothing to expand.
  const jsonLdFixtures = valid.filter((f) => f.type !== 'VersionResponse');

  it.each(jsonLdFixtures.map((f) => [f.file, f] as const))('expands %s', async (_file, { type, body }) => {
    const [node, ...rest] = (await expandDsp(body)) as Node[];
    expect(rest).toHaveLength(0);
    expect(node!['@type']).toEqual([typeIri(type)]);
  });

  it("expands a ContractNegotiation's pids to @ids and its state to a DSP IRI", async () => {
    const [node] = (await expandDsp(byName('ContractNegotiation.json'))) as Node[];
    expect(node![`${DSP_NS}providerPid`]).toEqual([{ '@id': byName('ContractNegotiation.json').providerPid }]);
    expect(node![`${DSP_NS}state`]).toEqual([{ '@id': `${DSP_NS}REQUESTED` }]);
  });

  it('keeps a distribution format only when the Distribution node has its @type', async () => {
    const dataset = byName('Dataset.json');
    const distributionOf = async (doc: unknown) => ((await expandDsp(doc)) as Node[])[0]![`${DCAT}distribution`]![0] as Node;
    expect((await distributionOf(dataset))['http://purl.org/dc/terms/format']).toEqual([{ '@id': 'HttpData-PULL' }]);

    const untyped = structuredClone(dataset) as { distribution: Array<Record<string, unknown>> };
    delete untyped.distribution[0]!['@type'];
    expect((await distributionOf(untyped))['http://purl.org/dc/terms/format']).toBeUndefined();
  });

  it('expands the same whatever was expanded before (both @import the ODRL profile; jsonld.js#537)', async () => {
    const request = byName('ContractRequestMessage.initial.json');
    const dataset = byName('Dataset.json');
    await expandDsp(dataset);
    const [requestNode] = (await expandDsp(request)) as Node[];
    expect(Object.keys(requestNode!)).toEqual(expect.arrayContaining([`${DSP_NS}offer`, `${DSP_NS}callbackAddress`]));
    await expandDsp(request);
    const [datasetNode] = (await expandDsp(dataset)) as Node[];
    expect(Object.keys(datasetNode!)).toEqual(expect.arrayContaining([`${DCAT}distribution`, 'http://www.w3.org/ns/odrl/2/hasPolicy']));
  });

  it('keeps a dataAddress endpointType (typed nested node)', async () => {
    const [node] = (await expandDsp(byName('TransferStartMessage.json'))) as Node[];
    const dataAddress = node![`${DSP_NS}dataAddress`]![0] as Node;
    expect(dataAddress[`${DSP_NS}endpointType`]).toEqual([{ '@id': 'https://w3id.org/idsa/v4.1/HTTP' }]);
    expect(dataAddress[`${DSP_NS}endpointProperties`]).toHaveLength(2);
  });

  it('never fetches: any other remote context is an error', async () => {
    const foreign = { ...byName('ContractNegotiation.json'), '@context': [DSP_CONTEXT, 'https://example.com/other-context.jsonld'] };
    await expect(expandDsp(foreign)).rejects.toMatchObject({
      details: { code: 'loading remote context failed', cause: { message: expect.stringMatching(/no local copy of https:\/\/example.com/) } },
    });
  });
});

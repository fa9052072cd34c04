import { Agent, request } from 'undici';
import { tempDir, type RunningNode } from '../helpers/cli';
import { CTX, CUT_ID, TCK_ID, TCK_TOKEN, startConformanceCut, uuid, type ConformanceCut, type Json } from '../helpers/conformance-cut';
import { FakeTck, type Received } from '../helpers/fake-tck';
import { validateDspMessage } from '../../src/protocol/dsp/schema-validator';
import { expandDsp } from '../helpers/dsp-jsonld';

/**
 * Every DSP TCK catalog and contract-negotiation scenario (dsp-tck: Metadata01, Catalog01,
 * ContractNegotiation{Provider,Consumer}0{1,2,3}), played against a real connector process in the
 * conformance profile by a fake TCK that behaves like the real one (static Authorization header,
 * bare-UUID pids, plain-HTTP callback server answering 404 until a handler is registered).
 */

type Step =
  | { recv: 'offer' | 'agreement' | 'finalized' | 'termination' | 'accepted' | 'verification' | 'counter' }
  | { send: 'termination' | 'counter' | 'accepted' | 'verification' | 'offer' | 'agreement' | 'finalized'; fails?: true }
  | { state: string };

const RECV_PATH: Record<string, RegExp> = {
  offer: /\/negotiations\/[^/]+\/offers$/,
  agreement: /\/negotiations\/[^/]+\/agreement$/,
  finalized: /\/negotiations\/[^/]+\/events$/,
  accepted: /\/negotiations\/[^/]+\/events$/,
  termination: /\/negotiations\/[^/]+\/termination$/,
  verification: /\/negotiations\/[^/]+\/agreement\/verification$/,
  counter: /\/negotiations\/[^/]+\/request$/,
};
const RECV_TYPE: Record<string, string> = {
  offer: 'ContractOfferMessage',
  agreement: 'ContractAgreementMessage',
  finalized: 'ContractNegotiationEventMessage',
  accepted: 'ContractNegotiationEventMessage',
  termination: 'ContractNegotiationTerminationMessage',
  verification: 'ContractAgreementVerificationMessage',
  counter: 'ContractRequestMessage',
};

describe('DSP TCK scenarios: catalog and contract negotiation, both roles', () => {
  const tmp = tempDir();
  const tck = new FakeTck();
  let conformance: ConformanceCut;
  let cut: RunningNode;
  let agent: Agent;
  let dsp: string;
  let apiKey: string;
  let call: ConformanceCut['call'];

  beforeAll(async () => {
    await tck.start();
    conformance = await startConformanceCut(tmp.dir);
    ({ node: cut, agent, dsp, apiKey, call } = conformance);
  });

  afterAll(async () => {
    await conformance?.stop();
    await tck.stop();
    tmp.cleanup();
  });

  afterEach(() => {
    expect(tck.problems).toEqual([]);
  });

  /** A 4xx that is not 404, with a schema-valid error body: what the TCK demands for illegal transitions. */
  function expectRefused(res: { status: number; body: Json | null }, errorType: string) {
    expect(res.status).toBe(400);
    expect(res.body?.['@type']).toBe(errorType);
    expect(validateDspMessage(res.body).ok).toBe(true);
  }

  // ----------------------------------------------------------------- metadata and catalog

  it('MET:01-01 version metadata lists 2025-1 without authentication', async () => {
    const res = await request(`https://localhost:${cut.publicPort}/.well-known/dspace-version`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as Json;
    expect(validateDspMessage(body, 'VersionResponse').ok).toBe(true);
    expect(body.protocolVersions).toEqual(expect.arrayContaining([expect.objectContaining({ version: '2025-1', path: '/dsp/2025-1', binding: 'HTTPS' })]));
  });

  it('CAT:01-01 catalog request returns a schema-valid Catalog containing CAT0101', async () => {
    const res = await call('POST', `${dsp}/catalog/request`, { '@context': CTX, '@type': 'CatalogRequestMessage', '@id': uuid() });
    expect(res.status).toBe(200);
    expect(validateDspMessage(res.body, 'Catalog').ok).toBe(true);
    const expanded = JSON.stringify(await expandDsp(res.body));
    expect(expanded).toContain('"@id":"CAT0101"');
    expect(res.body!.participantId).toBe(CUT_ID);
  });

  it('CAT:01-02 dataset request returns that Dataset', async () => {
    const res = await call('GET', `${dsp}/catalog/datasets/CAT0102`);
    expect(res.status).toBe(200);
    expect(validateDspMessage(res.body, 'Dataset').ok).toBe(true);
    expect(res.body!['@id']).toBe('CAT0102');
  });

  it('CAT:01-03 unknown dataset gives a CatalogError', async () => {
    const res = await call('GET', `${dsp}/catalog/datasets/CAT0103`);
    expect(res.status).toBe(404);
    expect(res.body!['@type']).toBe('CatalogError');
    expect(validateDspMessage(res.body).ok).toBe(true);
  });

  // ----------------------------------------------------------------- CUT = provider

  const providerScenarios: Array<[string, string, Step[]]> = [
    ['CN:01-01', 'ACN0101', [{ recv: 'offer' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:01-02', 'ACN0102', [{ recv: 'offer' }, { send: 'counter' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:01-03', 'ACN0103', [{ recv: 'offer' }, { send: 'accepted' }, { recv: 'agreement' }, { send: 'verification' }, { recv: 'finalized' }, { state: 'FINALIZED' }]],
    ['CN:01-04', 'ACN0104', [{ recv: 'agreement' }, { send: 'verification' }, { recv: 'finalized' }, { state: 'FINALIZED' }]],
    ['CN:02-01', 'ACN0201', [{ recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:02-02', 'ACN0202', [{ state: 'REQUESTED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:02-03', 'ACN0203', [{ recv: 'agreement' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:02-04', 'ACN0204', [{ recv: 'offer' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:02-05', 'ACN0205', [{ recv: 'offer' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:02-06', 'ACN0206', [{ recv: 'offer' }, { send: 'accepted' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:02-07', 'ACN0207', [{ recv: 'agreement' }, { send: 'verification' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN:03-01', 'ACN0301', [{ recv: 'agreement' }, { send: 'verification' }, { recv: 'finalized' }, { state: 'FINALIZED' }, { send: 'termination', fails: true }, { state: 'FINALIZED' }]],
    ['CN:03-02', 'ACN0302', [{ recv: 'offer' }, { send: 'verification', fails: true }, { state: 'OFFERED' }]],
    ['CN:03-03', 'ACN0303', [{ recv: 'offer' }, { send: 'accepted' }, { send: 'verification', fails: true }, { state: 'ACCEPTED' }]],
    ['CN:03-04', 'ACN0304', [{ recv: 'offer' }, { send: 'counter' }, { send: 'counter', fails: true }, { state: 'REQUESTED' }]],
  ];

  it.each(providerScenarios)('%s (CUT provider, %s)', async (_id, dataset, steps) => {
    const cpid = uuid();
    const offerId = `CD123:${dataset}:456`;
    const offer = (extra: Json = {}) => ({ '@type': 'Offer', '@id': offerId, target: dataset, permission: [{ action: 'use' }], ...extra });
    let ppid = '';
    const pending = new Map<number, Promise<Received>>();
    const register = (i: number) => {
      const s = steps[i];
      if (s && 'recv' in s && !pending.has(i)) pending.set(i, tck.expect(RECV_PATH[s.recv]!));
    };
    register(0);
    const created = await call('POST', `${dsp}/negotiations/request`, {
      '@context': CTX, '@type': 'ContractRequestMessage', '@id': uuid(), consumerPid: cpid, offer: offer(), callbackAddress: tck.url,
    });
    expect(created.status).toBe(201);
    expect(validateDspMessage(created.body, 'ContractNegotiation').ok).toBe(true);
    expect(created.body).toMatchObject({ consumerPid: cpid, state: 'REQUESTED' });
    ppid = created.body!.providerPid as string;
    expect(ppid).toMatch(/^urn:uuid:/);

    const base = `${dsp}/negotiations/${encodeURIComponent(ppid)}`;
    const pids = () => ({ providerPid: ppid, consumerPid: cpid });
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if ('recv' in step) {
        register(i);
        const got = await pending.get(i)!;
        expect(got.body['@type']).toBe(RECV_TYPE[step.recv]);
        expect(got.body).toMatchObject(pids());
        expect(got.path).toContain(`/negotiations/${cpid}/`);
        if (step.recv === 'finalized') expect(got.body.eventType).toBe('FINALIZED');
        if (step.recv === 'agreement') {
          expect((got.body.agreement as Json).assignee).toBe(TCK_ID);
          expect((got.body.agreement as Json).assigner).toBe(CUT_ID);
          expect((got.body.agreement as Json).target).toBe(dataset);
        }
      } else if ('send' in step) {
        register(i + 1);
        const messages: Record<string, [string, Json]> = {
          termination: ['termination', { '@type': 'ContractNegotiationTerminationMessage', ...pids(), code: '1' }],
          counter: ['request', { '@type': 'ContractRequestMessage', ...pids(), offer: offer({ assigner: CUT_ID, assignee: TCK_ID }) }],
          accepted: ['events', { '@type': 'ContractNegotiationEventMessage', ...pids(), eventType: 'ACCEPTED' }],
          verification: ['agreement/verification', { '@type': 'ContractAgreementVerificationMessage', ...pids() }],
        };
        const [suffix, body] = messages[step.send]!;
        const res = await call('POST', `${base}/${suffix}`, { '@context': CTX, '@id': uuid(), ...body });
        if (step.fails) expectRefused(res, 'ContractNegotiationError');
        else expect(res.status).toBe(200);
      } else {
        const res = await call('GET', base);
        expect(res.status).toBe(200);
        expect(validateDspMessage(res.body, 'ContractNegotiation').ok).toBe(true);
        expect(res.body!.state).toBe(step.state);
      }
    }
  });

  // ----------------------------------------------------------------- CUT = consumer

  const consumerScenarios: Array<[string, string, Step[]]> = [
    ['CN_C:01-01', 'ACNC0101', [{ send: 'offer' }, { recv: 'accepted' }, { send: 'agreement' }, { recv: 'verification' }, { send: 'finalized' }, { state: 'FINALIZED' }]],
    ['CN_C:01-02', 'ACNC0102', [{ send: 'offer' }, { recv: 'counter' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:01-03', 'ACNC0103', [{ send: 'offer' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:01-04', 'ACNC0104', [{ send: 'agreement' }, { recv: 'verification' }, { send: 'finalized' }, { state: 'FINALIZED' }]],
    ['CN_C:02-01', 'ACNC0201', [{ send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:02-02', 'ACNC0202', [{ recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:02-03', 'ACNC0203', [{ send: 'agreement' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:02-04', 'ACNC0204', [{ send: 'offer' }, { state: 'OFFERED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:02-05', 'ACNC0205', [{ send: 'offer' }, { recv: 'accepted' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:02-06', 'ACNC0206', [{ send: 'agreement' }, { recv: 'verification' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['CN_C:03-01', 'ACNC0301', [{ send: 'finalized', fails: true }, { state: 'REQUESTED' }]],
    ['CN_C:03-02', 'ACNC0302', [{ send: 'offer' }, { state: 'OFFERED' }, { send: 'agreement', fails: true }, { state: 'OFFERED' }]],
    ['CN_C:03-03', 'ACNC0303', [{ send: 'offer' }, { send: 'finalized', fails: true }, { state: 'OFFERED' }]],
    ['CN_C:03-04', 'ACNC0304', [{ send: 'offer' }, { recv: 'accepted' }, { send: 'finalized', fails: true }, { state: 'ACCEPTED' }]],
    ['CN_C:03-05', 'ACNC0305', [{ send: 'offer' }, { recv: 'accepted' }, { send: 'offer', fails: true }, { state: 'ACCEPTED' }]],
    ['CN_C:03-06', 'ACNC0306', [{ send: 'offer' }, { recv: 'accepted' }, { send: 'agreement' }, { send: 'finalized', fails: true }, { state: 'AGREED' }]],
  ];

  it.each(consumerScenarios)('%s (CUT consumer, %s)', async (_id, dataset, steps) => {
    const ppid = uuid();
    const offerId = `offer${dataset}`;
    const pending = new Map<number, Promise<Received>>();
    const register = (i: number) => {
      const s = steps[i];
      if (s && 'recv' in s && !pending.has(i)) pending.set(i, tck.expect(RECV_PATH[s.recv]!));
    };
    const requested = tck.expect(/^\/negotiations\/request$/, (r) => ({
      status: 200,
      body: { '@context': CTX, '@type': 'ContractNegotiation', providerPid: ppid, consumerPid: r.body.consumerPid, state: 'REQUESTED' },
    }));
    register(0);
    const init = await request(`https://localhost:${cut.publicPort}/conformance/negotiations/initiate`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId: TCK_ID, offerId, datasetId: dataset, connectorAddress: tck.url }),
    });
    expect(init.statusCode).toBe(200);
    await init.body.dump();
    const req = await requested;
    expect(req.body).toMatchObject({ '@type': 'ContractRequestMessage', callbackAddress: `https://localhost:${cut.publicPort}/dsp/2025-1/callback` });
    expect(req.body.providerPid).toBeUndefined();
    expect(req.body.offer).toMatchObject({ '@id': offerId, target: dataset });
    const cpid = req.body.consumerPid as string;
    const pids = () => ({ providerPid: ppid, consumerPid: cpid });
    const callback = `${req.body.callbackAddress as string}/negotiations/${encodeURIComponent(cpid)}`;

    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if ('recv' in step) {
        register(i);
        const got = await pending.get(i)!;
        expect(got.body['@type']).toBe(RECV_TYPE[step.recv]);
        expect(got.body).toMatchObject(pids());
        expect(got.path).toContain(`/negotiations/${ppid}/`);
        if (step.recv === 'accepted') expect(got.body.eventType).toBe('ACCEPTED');
        if (step.recv === 'counter') expect(got.body.callbackAddress).toBeUndefined();
      } else if ('send' in step) {
        register(i + 1);
        const messages: Record<string, [string, Json]> = {
          offer: ['offers', { '@type': 'ContractOfferMessage', ...pids(), offer: { '@type': 'Offer', '@id': offerId, target: dataset, permission: [{ action: 'use' }] } }],
          agreement: [
            'agreement',
            {
              '@type': 'ContractAgreementMessage',
              ...pids(),
              agreement: { '@id': uuid(), '@type': 'Agreement', target: dataset, assigner: TCK_ID, assignee: CUT_ID, timestamp: new Date().toISOString(), permission: [{ action: 'use' }] },
            },
          ],
          finalized: ['events', { '@type': 'ContractNegotiationEventMessage', ...pids(), eventType: 'FINALIZED' }],
          termination: ['termination', { '@type': 'ContractNegotiationTerminationMessage', ...pids(), code: '1' }],
        };
        const [suffix, body] = messages[step.send]!;
        const res = await call('POST', `${callback}/${suffix}`, { '@context': CTX, '@id': uuid(), ...body });
        if (step.fails) expectRefused(res, 'ContractNegotiationError');
        else expect(res.status).toBe(200);
      } else {
        // The consumer's GET on its callback address (new in 2025-1); poll briefly for our own outbound transitions.
        let state = '';
        for (let attempt = 0; attempt < 50; attempt++) {
          const res = await call('GET', callback);
          expect(res.status).toBe(200);
          expect(validateDspMessage(res.body, 'ContractNegotiation').ok).toBe(true);
          state = res.body!.state as string;
          if (state === step.state) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(state).toBe(step.state);
      }
    }
  });

  // ----------------------------------------------------------------- beyond the TCK

  it('answers 404 (not 400) for unknown pids and for unauthenticated requests', async () => {
    const res = await call('GET', `${dsp}/negotiations/urn:uuid:${uuid()}`);
    expect(res.status).toBe(404);
    const noAuth = await request(`${dsp}/negotiations/urn:uuid:${uuid()}`, { dispatcher: agent });
    expect(noAuth.statusCode).toBe(404);
    await noAuth.body.dump();
  });

  it('refuses an unsupported catalog filter with 400 CatalogError, and an unauthenticated catalog request with 401', async () => {
    const res = await call('POST', `${dsp}/catalog/request`, { '@context': CTX, '@type': 'CatalogRequestMessage', filter: [{ q: 'x' }] });
    expectRefused(res, 'CatalogError');
    const anon = await request(`${dsp}/catalog/request`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ '@context': CTX, '@type': 'CatalogRequestMessage' }),
    });
    expect(anon.statusCode).toBe(401);
    expect(((await anon.body.json()) as Json)['@type']).toBe('CatalogError');
  });

  it('rejects schema violations and malformed JSON with a DSP error body, never 5xx', async () => {
    const wrong = await call('POST', `${dsp}/negotiations/request`, { '@context': 'https://w3id.org/dspace/2025/1/context.jsonld', '@type': 'ContractRequestMessage' });
    expectRefused(wrong, 'ContractNegotiationError');
    const raw = await request(`${dsp}/negotiations/request`, { method: 'POST', dispatcher: agent, headers: { authorization: TCK_TOKEN, 'content-type': 'application/json' }, body: '{"@type": ' });
    expect(raw.statusCode).toBe(400);
    expect(((await raw.body.json()) as Json)['@type']).toBe('ContractNegotiationError');
    const unknownOffer = await call('POST', `${dsp}/negotiations/request`, {
      '@context': CTX, '@type': 'ContractRequestMessage', consumerPid: uuid(), callbackAddress: tck.url,
      offer: { '@type': 'Offer', '@id': 'nope:nothing:0', target: 'nothing', permission: [{ action: 'use' }] },
    });
    expectRefused(unknownOffer, 'ContractNegotiationError');
  });

  it('treats a repeated initial request (same consumer, same consumerPid) as the same negotiation', async () => {
    const cpid = uuid();
    const agreed = tck.expect(RECV_PATH.agreement!);
    const body = { '@context': CTX, '@type': 'ContractRequestMessage', consumerPid: cpid, callbackAddress: tck.url, offer: { '@type': 'Offer', '@id': 'CD123:ACN0203:456', target: 'ACN0203', permission: [{ action: 'use' }] } };
    const first = await call('POST', `${dsp}/negotiations/request`, body);
    const second = await call('POST', `${dsp}/negotiations/request`, body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body!.providerPid).toBe(first.body!.providerPid);
    await agreed;
  });

  it('refuses callback addresses on loopback names that are not allow-listed', async () => {
    const res = await call('POST', `${dsp}/negotiations/request`, {
      '@context': CTX, '@type': 'ContractRequestMessage', consumerPid: uuid(), callbackAddress: 'https://169.254.169.254/latest',
      offer: { '@type': 'Offer', '@id': 'CD123:ACN0101:456', target: 'ACN0101', permission: [{ action: 'use' }] },
    });
    expectRefused(res, 'ContractNegotiationError');
    expect(JSON.stringify(res.body)).toMatch(/169\.254\.169\.254/);
  });

  it('pages the catalog with RFC 5988 Link headers (next and previous)', async () => {
    const first = await request(`${dsp}/catalog/request?limit=2`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: TCK_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ '@context': CTX, '@type': 'CatalogRequestMessage' }),
    });
    const page1 = (await first.body.json()) as Json;
    expect((page1.dataset as unknown[]).length).toBe(2);
    const link = String(first.headers.link);
    const next = /<([^>]+)>; rel="next"/.exec(link)?.[1];
    expect(next).toMatch(/\/dsp\/2025-1\/catalog\/request\?after=.+&limit=2$/);
    expect(link).not.toContain('rel="previous"');
    const second = await call('POST', next!.replace(/^https:\/\/localhost:\d+/, `https://localhost:${cut.publicPort}`), { '@context': CTX, '@type': 'CatalogRequestMessage' });
    expect(second.status).toBe(200);
    const ids1 = (page1.dataset as Json[]).map((d) => d['@id']);
    const ids2 = (second.body!.dataset as Json[]).map((d) => d['@id']);
    expect(ids2.some((id) => ids1.includes(id))).toBe(false);
  });

  it('hides datasets whose access policy the requester does not satisfy: absent from the catalog, CatalogError on GET', async () => {
    const mgmt = (route: string, body: unknown) =>
      request(`${cut.managementUrl}/api/v1${route}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.body.dump().then(() => r.statusCode));
    expect(await mgmt('/policies', { id: 'ministry-only', policy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'participantId', operator: 'eq', rightOperand: 'did:web:ministry.example' }] }] } })).toBe(201);
    expect(await mgmt('/assets', { id: 'AAA-hidden', title: 'hidden', source: { type: 'file', path: 'hidden.csv' } })).toBe(201);
    expect(await mgmt('/offers', { id: 'hidden-offer', accessPolicyId: 'ministry-only', contractPolicyId: 'ministry-only', assetIds: ['AAA-hidden'] })).toBe(201);
    const catalog = await call('POST', `${dsp}/catalog/request`, { '@context': CTX, '@type': 'CatalogRequestMessage' });
    expect(JSON.stringify(catalog.body)).not.toContain('AAA-hidden');
    const dataset = await call('GET', `${dsp}/catalog/datasets/AAA-hidden`);
    expect(dataset.status).toBe(404);
    expect(dataset.body!['@type']).toBe('CatalogError');
  });
});

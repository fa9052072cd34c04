import { Agent, request } from 'undici';
import { tempDir, type RunningNode } from '../helpers/cli';
import { CTX, TCK_ID, TCK_TOKEN, startConformanceCut, uuid, type ConformanceCut, type Json } from '../helpers/conformance-cut';
import { FakeTck, type Received } from '../helpers/fake-tck';
import { validateDspMessage } from '../../src/protocol/dsp/schema-validator';
import { DSP_NS, expandDsp } from '../helpers/dsp-jsonld';

/**
 * Every DSP TCK transfer-process scenario the TCK runs (dsp-tck: TransferProcess{Provider,Consumer}0{1,2,3}Test,
 * TP:01-01 … TP:03-06 and TP_C:01-01 … TP_C:03-06 without the two @Disabled ones), played against a real
 * connector process in the conformance profile by a fake TCK that behaves like the real one: static
 * Authorization header, bare-UUID pids and a top-level @id on every message, `code: "1"` and
 * `{message}` reasons on terminations and suspensions, a plain-HTTP callback server answering 404
 * until the handler for the next step is registered, state checks that poll. The two @Disabled
 * scenarios (consumer-side resume) run as extra tests: our transition tables allow them. Beyond the
 * TCK: refused requests (unknown or foreign agreement, unsupported format, push without address) and
 * idempotent re-requests.
 */
const OTHER_ID = 'OTHER_PARTICIPANT';
const OTHER_TOKEN = '{"region":"any","audience":"any","clientId":"OTHER_PARTICIPANT"}';
const HTTP = 'https://w3id.org/idsa/v4.1/HTTP';
type Msg = 'start' | 'completion' | 'suspension' | 'termination';
type Step = { recv: Msg } | { send: Msg; fails?: true } | { state: string };

const RECV_PATH: Record<Msg, RegExp> = {
  start: /^\/transfers\/[^/]+\/start$/,
  completion: /^\/transfers\/[^/]+\/completion$/,
  suspension: /^\/transfers\/[^/]+\/suspension$/,
  termination: /^\/transfers\/[^/]+\/termination$/,
};
const TYPE: Record<Msg, string> = {
  start: 'TransferStartMessage',
  completion: 'TransferCompletionMessage',
  suspension: 'TransferSuspensionMessage',
  termination: 'TransferTerminationMessage',
};

/** The message the TCK sends (TransferFunctions.java): top-level @id, code "1" and {message} reasons on suspension and termination. */
function tckMessage(kind: Msg, pids: { providerPid: string; consumerPid: string }, dataAddress?: Json): Json {
  const base: Json = { '@context': CTX, '@id': uuid(), '@type': TYPE[kind], ...pids };
  if (kind === 'start' && dataAddress) base.dataAddress = dataAddress;
  if (kind === 'suspension' || kind === 'termination') {
    base.code = '1';
    base.reason = [{ message: `TCK ${kind}` }];
  }
  return base;
}

/** The DataAddress the TCK's provider sends with its start (TransferFunctions.dataAddress()). */
const TCK_DATA_ADDRESS = { '@type': 'DataAddress', endpoint: 'http://example.com', endpointType: HTTP };

describe('DSP TCK scenarios: transfer process, both roles', () => {
  const tmp = tempDir();
  const tck = new FakeTck();
  let conformance: ConformanceCut;
  let cut: RunningNode;
  let agent: Agent;
  let dsp: string;
  let callbackBase: string;
  let apiKey: string;
  let call: ConformanceCut['call'];

  beforeAll(async () => {
    await tck.start();
    conformance = await startConformanceCut(tmp.dir, { [OTHER_TOKEN]: OTHER_ID });
    ({ node: cut, agent, dsp, apiKey, call } = conformance);
    callbackBase = `${dsp}/callback`;
  });

  afterAll(async () => {
    await conformance?.stop();
    await tck.stop();
    tmp.cleanup();
  });

  afterEach(async () => {
    await new Promise((r) => setTimeout(r, 20)); // the fake TCK checks what it received asynchronously
    expect(tck.problems).toEqual([]);
  });

  /** What the TCK checks on every TransferProcess it reads: schema, string @type, JSON-LD expansion to the DSP state IRI. */
  async function expectTransferProcess(body: Json | null, state?: string): Promise<void> {
    const check = validateDspMessage(body, 'TransferProcess');
    expect(check.ok ? [] : check.errors).toEqual([]);
    const expanded = (await expandDsp(body)) as Json[];
    expect(expanded[0]!['@type']).toEqual([`${DSP_NS}TransferProcess`]);
    if (state) expect(JSON.stringify(expanded)).toContain(`${DSP_NS}${state}`);
  }

  /** A 4xx that is not 404, with a schema-valid TransferError naming both pids: what the TCK demands of illegal transitions. */
  async function expectRefused(res: { status: number; body: Json | null }, pids?: { providerPid?: string; consumerPid?: string }): Promise<string[]> {
    expect(res.status).toBe(400);
    expect(res.body?.['@type']).toBe('TransferError');
    const check = validateDspMessage(res.body, 'TransferError');
    expect(check.ok ? [] : check.errors).toEqual([]);
    expect((await expandDsp(res.body)).length).toBe(1);
    if (pids) expect(res.body).toMatchObject(pids);
    const reasons = res.body!.reason as string[];
    expect(reasons.length).toBeGreaterThan(0);
    return reasons;
  }

  /** The TCK's state check: poll GET until the state shows (awaitility), then one more schema check. */
  async function expectState(url: string, state: string): Promise<void> {
    let last: { status: number; body: Json | null } | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      last = await call('GET', url);
      expect(last.status).toBe(200);
      if (last.body?.state === state) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(last!.body?.state).toBe(state);
    await expectTransferProcess(last!.body, state);
  }

  /** The pull DataAddress our provider sends on start. */
  function expectPullAddress(dataAddress: unknown, providerPid: string): { endpoint: string; token: string } {
    const a = dataAddress as Json;
    expect(a).toMatchObject({ '@type': 'DataAddress', endpointType: HTTP });
    expect(a.endpoint).toBe(`https://localhost:${cut.publicPort}/data/transfers/${encodeURIComponent(providerPid)}`);
    const props = a.endpointProperties as Array<{ '@type': string; name: string; value: string }>;
    expect(props.every((p) => p['@type'] === 'EndpointProperty')).toBe(true);
    const prop = (name: string) => props.find((p) => p.name === name)?.value;
    expect(prop('authType')).toBe('bearer');
    expect(prop('authorization')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/); // a JWT
    return { endpoint: a.endpoint as string, token: prop('authorization')! };
  }

  // ----------------------------------------------------------------- CUT = provider

  const providerScenarios: Array<[string, string, Step[]]> = [
    ['TP:01-01', 'ATP0101', [{ recv: 'start' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['TP:01-02', 'ATP0102', [{ recv: 'start' }, { recv: 'completion' }, { state: 'COMPLETED' }]],
    ['TP:01-03', 'ATP0103', [{ recv: 'start' }, { recv: 'suspension' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['TP:01-04', 'ATP0104', [{ recv: 'start' }, { recv: 'suspension' }, { recv: 'start' }, { recv: 'completion' }, { state: 'COMPLETED' }]],
    ['TP:01-05', 'ATP0105', [{ recv: 'termination' }, { state: 'TERMINATED' }]],
    ['TP:02-01', 'ATP0201', [{ recv: 'start' }, { state: 'STARTED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['TP:02-02', 'ATP0202', [{ recv: 'start' }, { send: 'completion' }, { state: 'COMPLETED' }]],
    ['TP:02-03', 'ATP0203', [{ recv: 'start' }, { send: 'suspension' }, { state: 'SUSPENDED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['TP:02-05', 'ATP0205', [{ state: 'REQUESTED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['TP:03-01', 'ATP0301', [{ state: 'REQUESTED' }, { send: 'completion', fails: true }, { state: 'REQUESTED' }]],
    ['TP:03-02', 'ATP0302', [{ state: 'REQUESTED' }, { send: 'suspension', fails: true }, { state: 'REQUESTED' }]],
    ['TP:03-03', 'ATP0303', [{ recv: 'start' }, { send: 'suspension' }, { send: 'completion', fails: true }, { state: 'SUSPENDED' }]],
    ['TP:03-04', 'ATP0304', [{ recv: 'start' }, { send: 'termination' }, { send: 'start', fails: true }, { state: 'TERMINATED' }]],
    ['TP:03-05', 'ATP0305', [{ recv: 'start' }, { send: 'termination' }, { send: 'suspension', fails: true }, { state: 'TERMINATED' }]],
    ['TP:03-06', 'ATP0306', [{ recv: 'start' }, { send: 'termination' }, { send: 'completion', fails: true }, { state: 'TERMINATED' }]],
    // @Disabled in the TCK (consumer-side resume): our provider table accepts the consumer's start in SUSPENDED.
    ['TP:02-04 (@Disabled in the TCK)', 'ATP0204', [{ recv: 'start' }, { send: 'suspension' }, { state: 'SUSPENDED' }, { send: 'start' }, { state: 'STARTED' }, { send: 'completion' }, { state: 'COMPLETED' }]],
  ];

  /** Send the TCK's TransferRequestMessage; returns the pids. */
  async function requestTransfer(agreementId: string, extra: Json = {}, token = TCK_TOKEN) {
    const consumerPid = uuid();
    const res = await call('POST', `${dsp}/transfers/request`, {
      '@context': CTX, '@id': uuid(), '@type': 'TransferRequestMessage', consumerPid, agreementId, format: 'HttpData-PULL', callbackAddress: tck.url, ...extra,
    }, token);
    return { consumerPid, res };
  }

  it.each(providerScenarios)('%s (CUT provider, %s)', async (_id, agreementId, steps) => {
    const pending = new Map<number, Promise<Received>>();
    const register = (i: number) => {
      const s = steps[i];
      if (s && 'recv' in s && !pending.has(i)) pending.set(i, tck.expect(RECV_PATH[s.recv]));
    };
    register(0);
    const { consumerPid, res: created } = await requestTransfer(agreementId);
    expect(created.status).toBe(201);
    await expectTransferProcess(created.body, 'REQUESTED');
    expect(created.body).toMatchObject({ consumerPid, state: 'REQUESTED' });
    const providerPid = created.body!.providerPid as string;
    expect(providerPid).toMatch(/^urn:uuid:/);
    const pids = { providerPid, consumerPid };
    const base = `${dsp}/transfers/${encodeURIComponent(providerPid)}`;

    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if ('recv' in step) {
        register(i);
        const got = await pending.get(i)!;
        expect(got.body['@type']).toBe(TYPE[step.recv]);
        expect(got.body).toMatchObject(pids);
        expect(got.path).toBe(`/transfers/${consumerPid}/${step.recv}`);
        if (step.recv === 'start') {
          expectPullAddress(got.body.dataAddress, providerPid);
          // What the TCK reads after JSON-LD expansion: endpoint, endpointType and both properties survive.
          const address = ((await expandDsp(got.body)) as Json[])[0]![`${DSP_NS}dataAddress`] as Json[];
          expect(address[0]).toMatchObject({ '@type': [`${DSP_NS}DataAddress`], [`${DSP_NS}endpointType`]: [{ '@id': HTTP }] });
          const names = (address[0]![`${DSP_NS}endpointProperties`] as Json[]).map((p) => (p[`${DSP_NS}name`] as Json[])[0]!['@value']);
          expect(names).toEqual(expect.arrayContaining(['authorization', 'authType']));
          expect(address[0]![`${DSP_NS}endpoint`]).toEqual([{ '@value': expect.stringMatching(/^https:\/\/localhost:\d+\/data\/transfers\//) }]);
        }
        if (step.recv === 'termination' || step.recv === 'suspension') expect((got.body.reason as unknown[]).length).toBeGreaterThan(0);
      } else if ('send' in step) {
        register(i + 1);
        const res = await call('POST', `${base}/${step.send}`, tckMessage(step.send, pids));
        if (step.fails) await expectRefused(res, pids);
        else {
          expect(res.status).toBe(200);
          await expectTransferProcess(res.body);
        }
      } else {
        await expectState(base, step.state);
      }
    }
  });

  // ----------------------------------------------------------------- CUT = consumer

  const consumerScenarios: Array<[string, string, Step[]]> = [
    ['TP_C:01-01', 'ATPC0101', [{ send: 'start' }, { state: 'STARTED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['TP_C:01-02', 'ATPC0102', [{ send: 'start' }, { send: 'completion' }, { state: 'COMPLETED' }]],
    ['TP_C:01-03', 'ATPC0103', [{ send: 'start' }, { send: 'suspension' }, { state: 'SUSPENDED' }, { send: 'termination' }, { state: 'TERMINATED' }]],
    ['TP_C:01-04', 'ATPC0104', [{ send: 'start' }, { send: 'suspension' }, { send: 'start' }, { send: 'completion' }, { state: 'COMPLETED' }]],
    ['TP_C:01-05', 'ATPC0105', [{ send: 'termination' }, { state: 'TERMINATED' }]],
    ['TP_C:02-01', 'ATPC0201', [{ send: 'start' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['TP_C:02-02', 'ATPC0202', [{ send: 'start' }, { recv: 'completion' }, { state: 'COMPLETED' }]],
    ['TP_C:02-03', 'ATPC0203', [{ send: 'start' }, { recv: 'suspension' }, { recv: 'termination' }, { state: 'TERMINATED' }]],
    ['TP_C:02-05', 'ATPC0205', [{ recv: 'termination' }, { state: 'TERMINATED' }]],
    ['TP_C:03-01', 'ATPC0301', [{ send: 'completion', fails: true }, { state: 'REQUESTED' }]],
    ['TP_C:03-02', 'ATPC0302', [{ send: 'suspension', fails: true }, { state: 'REQUESTED' }]],
    ['TP_C:03-03', 'ATPC0303', [{ send: 'start' }, { send: 'suspension' }, { send: 'completion', fails: true }, { state: 'SUSPENDED' }]],
    ['TP_C:03-04', 'ATPC0304', [{ send: 'start' }, { send: 'termination' }, { send: 'start', fails: true }, { state: 'TERMINATED' }]],
    ['TP_C:03-05', 'ATPC0305', [{ send: 'start' }, { send: 'termination' }, { send: 'suspension', fails: true }, { state: 'TERMINATED' }]],
    ['TP_C:03-06', 'ATPC0306', [{ send: 'start' }, { send: 'termination' }, { send: 'completion', fails: true }, { state: 'TERMINATED' }]],
  ];

  /** POST the TCK's transfer initiate call; the fake TCK answers the request with 200 + TransferProcess (REQUESTED), as the TCK does. */
  async function initiate(agreementId: string, providerPid: string): Promise<Received> {
    const requested = tck.expect(/^\/transfers\/request$/, (r) => ({
      status: 200,
      body: { '@context': CTX, '@id': uuid(), '@type': 'TransferProcess', providerPid, consumerPid: r.body.consumerPid, state: 'REQUESTED' },
    }));
    const init = await request(`https://localhost:${cut.publicPort}/conformance/transfers/initiate`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId: TCK_ID, agreementId, format: 'HttpData-PULL', connectorAddress: tck.url }),
    });
    expect(init.statusCode).toBe(200);
    await init.body.dump();
    const req = await requested;
    expect(req.body).toMatchObject({ '@type': 'TransferRequestMessage', agreementId, format: 'HttpData-PULL', callbackAddress: callbackBase });
    expect(req.body.providerPid).toBeUndefined();
    expect(req.body.dataAddress).toBeUndefined();
    expect(req.body.consumerPid).toMatch(/^urn:uuid:/);
    return req;
  }

  it.each(consumerScenarios)('%s (CUT consumer, %s)', async (_id, agreementId, steps) => {
    const providerPid = uuid();
    const pending = new Map<number, Promise<Received>>();
    const register = (i: number) => {
      const s = steps[i];
      if (s && 'recv' in s && !pending.has(i)) pending.set(i, tck.expect(RECV_PATH[s.recv]));
    };
    register(0);
    const req = await initiate(agreementId, providerPid);
    const consumerPid = req.body.consumerPid as string;
    const pids = { providerPid, consumerPid };
    const callback = `${callbackBase}/transfers/${encodeURIComponent(consumerPid)}`;

    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if ('recv' in step) {
        register(i);
        const got = await pending.get(i)!;
        expect(got.body['@type']).toBe(TYPE[step.recv]);
        expect(got.body).toMatchObject(pids);
        expect(got.path).toBe(`/transfers/${providerPid}/${step.recv}`);
      } else if ('send' in step) {
        register(i + 1);
        const res = await call('POST', `${callback}/${step.send}`, tckMessage(step.send, pids, TCK_DATA_ADDRESS));
        if (step.fails) await expectRefused(res, pids);
        else {
          expect(res.status).toBe(200);
          await expectTransferProcess(res.body);
        }
      } else {
        await expectState(callback, step.state);
      }
    }
  });

  it('TP_C:02-04 (@Disabled in the TCK): the consumer suspends and resumes through the management API, then completes', async () => {
    const mgmt = async (route: string) => {
      const res = await request(`${cut.managementUrl}/api/v1${route}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: '{}' });
      expect(res.statusCode).toBe(200);
      return (await res.body.json()) as Json;
    };
    const providerPid = uuid();
    const req = await initiate('ATPC0204', providerPid);
    const consumerPid = req.body.consumerPid as string;
    const pids = { providerPid, consumerPid };
    const callback = `${callbackBase}/transfers/${encodeURIComponent(consumerPid)}`;
    expect((await call('POST', `${callback}/start`, tckMessage('start', pids, TCK_DATA_ADDRESS))).status).toBe(200);
    await expectState(callback, 'STARTED');

    const suspended = tck.expect(RECV_PATH.suspension);
    await mgmt(`/transfers/${encodeURIComponent(consumerPid)}/suspend`);
    expect((await suspended).body).toMatchObject({ '@type': 'TransferSuspensionMessage', ...pids });
    await expectState(callback, 'SUSPENDED');

    const resumed = tck.expect(RECV_PATH.start);
    await mgmt(`/transfers/${encodeURIComponent(consumerPid)}/resume`);
    const start = await resumed;
    expect(start.path).toBe(`/transfers/${providerPid}/start`);
    expect(start.body).toMatchObject({ '@type': 'TransferStartMessage', ...pids });
    expect(start.body.dataAddress).toBeUndefined(); // only the provider hands out a DataAddress
    await expectState(callback, 'STARTED');

    const completed = tck.expect(RECV_PATH.completion);
    await mgmt(`/transfers/${encodeURIComponent(consumerPid)}/complete`);
    expect((await completed).body).toMatchObject({ '@type': 'TransferCompletionMessage', ...pids });
    await expectState(callback, 'COMPLETED');
  });

  // ----------------------------------------------------------------- beyond the TCK

  it('refuses a request naming an unknown agreement with 400 TransferError saying why', async () => {
    const { consumerPid, res } = await requestTransfer('ATP9999');
    const reasons = await expectRefused(res, { consumerPid });
    expect(reasons.join(' ')).toMatch(/agreement ATP9999 is not an agreement between TCK_PARTICIPANT and this connector/);
  });

  it('refuses a request naming an agreement of another participant (400, the reason says whose)', async () => {
    const { consumerPid, res } = await requestTransfer('ATP0201', {}, OTHER_TOKEN);
    const reasons = await expectRefused(res, { consumerPid });
    expect(reasons.join(' ')).toMatch(/ATP0201 is not an agreement between OTHER_PARTICIPANT/);
    // Our consumer-side agreement (the TCK is its provider) is not one we provide either.
    const consumerSide = await requestTransfer('ATPC0101');
    expect((await expectRefused(consumerSide.res)).join(' ')).toMatch(/ATPC0101 is not an agreement between TCK_PARTICIPANT/);
  });

  it('refuses an unsupported format and a push without dataAddress with 400 TransferError saying why', async () => {
    const ftp = await requestTransfer('ATP0205', { format: 'Ftp-PULL' });
    expect((await expectRefused(ftp.res, { consumerPid: ftp.consumerPid })).join(' ')).toMatch(/format Ftp-PULL is not offered.*HttpData-PULL/);
    const push = await requestTransfer('ATP0205', { format: 'HttpData-PUSH' });
    expect((await expectRefused(push.res, { consumerPid: push.consumerPid })).join(' ')).toMatch(/push transfer needs a dataAddress/);
    const pushNoEndpoint = await requestTransfer('ATP0205', { format: 'HttpData-PUSH', dataAddress: { '@type': 'DataAddress', endpointType: HTTP } });
    expect((await expectRefused(pushNoEndpoint.res)).join(' ')).toMatch(/dataAddress with an endpoint/);
  });

  it('treats a repeated request (same consumer, same consumerPid) as the same transfer', async () => {
    const consumerPid = uuid();
    const body = { '@context': CTX, '@id': uuid(), '@type': 'TransferRequestMessage', consumerPid, agreementId: 'ATP0205', format: 'HttpData-PULL', callbackAddress: tck.url };
    const first = await call('POST', `${dsp}/transfers/request`, body);
    const second = await call('POST', `${dsp}/transfers/request`, { ...body, '@id': uuid() });
    expect(first.status).toBe(201);
    expect([200, 201]).toContain(second.status);
    await expectTransferProcess(second.body, 'REQUESTED');
    expect(second.body!.providerPid).toBe(first.body!.providerPid);
    // Another participant reusing that consumerPid gets nothing of it.
    const intruder = await call('GET', `${dsp}/transfers/${encodeURIComponent(first.body!.providerPid as string)}`, undefined, OTHER_TOKEN);
    expect(intruder.status).toBe(404);
  });

  it('answers 404 for unknown pids and unauthenticated requests, 400 for schema violations', async () => {
    expect((await call('GET', `${dsp}/transfers/urn:uuid:${uuid()}`)).status).toBe(404);
    expect((await call('GET', `${callbackBase}/transfers/urn:uuid:${uuid()}`)).status).toBe(404);
    const anon = await request(`${dsp}/transfers/urn:uuid:${uuid()}`, { dispatcher: agent });
    expect(anon.statusCode).toBe(404);
    await anon.body.dump();
    const noCallback = await call('POST', `${dsp}/transfers/request`, { '@context': CTX, '@type': 'TransferRequestMessage', consumerPid: uuid(), agreementId: 'ATP0205', format: 'HttpData-PULL' });
    await expectRefused(noCallback);
  });

  it('the pull endpoint of a start refuses requests without the token and after termination', async () => {
    const started = tck.expect(RECV_PATH.start);
    const { consumerPid, res } = await requestTransfer('ATP0201');
    const providerPid = res.body!.providerPid as string;
    const { endpoint, token } = expectPullAddress((await started).body.dataAddress, providerPid);
    const get = async (authorization?: string) => {
      const r = await request(endpoint, { dispatcher: agent, headers: authorization ? { authorization: `Bearer ${authorization}` } : {} });
      await r.body.dump();
      return r.statusCode;
    };
    expect(await get()).toBe(401);
    expect(await call('POST', `${dsp}/transfers/${encodeURIComponent(providerPid)}/termination`, tckMessage('termination', { providerPid, consumerPid }))).toMatchObject({ status: 200 });
    expect(await get(token)).toBe(403);
  });
});

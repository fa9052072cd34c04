import { tempDir } from '../helpers/cli';
import { api, coopAndAgro, eventually, freePort, killMembers, publishSample, startMember, type Member } from '../helpers/dataspace';

/**
 * Two real connector processes over HTTPS with signed peer tokens: a normal negotiation, a consumer
 * whose callback address is unreachable while the provider is SIGKILLed mid-negotiation and
 * restarted, and a provider that is down when the consumer starts.
 */
describe('negotiation between two connector processes', () => {
  const tmp = tempDir();
  let provider: Member;
  let consumer: Member;
  let providerPort: number;

  beforeAll(async () => {
    providerPort = await freePort();
    [provider, consumer] = coopAndAgro(tmp.dir, { coop: { env: { HEDGEROW_PUBLIC_API_PORT: String(providerPort) } } });
    await startMember(provider);
    await startMember(consumer);
    await publishSample(provider);
  });

  afterAll(async () => {
    await killMembers(provider, consumer);
    tmp.cleanup();
  });

  const dspOf = () => `https://localhost:${providerPort}/dsp/2025-1`;
  const state = (m: Member, id: string) => api(m, 'GET', `/negotiations/${encodeURIComponent(id)}`);

  async function offerId(): Promise<string> {
    const catalog = await api(consumer, 'POST', '/catalog/request', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId });
    return catalog.dataset[0].hasPolicy[0]['@id'];
  }

  it('negotiates to FINALIZED with an agreement both sides hold', async () => {
    const started = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId, offerId: await offerId() });
    const done = await eventually(async () => {
      const n = await state(consumer, started.id);
      return n.state === 'FINALIZED' && n;
    });
    const theirs = await eventually(async () => {
      const n = await state(provider, done.providerPid);
      return n.state === 'FINALIZED' && n;
    });
    expect(theirs.agreementId).toBe(done.agreementId);
    const agreement = await api(consumer, 'GET', `/agreements/${encodeURIComponent(done.agreementId)}`);
    expect(agreement).toMatchObject({ status: 'active', providerId: provider.participantId, consumerId: consumer.participantId });
    expect(agreement.agreement).toMatchObject({ '@type': 'Agreement', assigner: provider.participantId, assignee: consumer.participantId, target: 'parcel-yields-2026' });
    expect(done.timeline.map((e: { kind: string; messageType: string }) => `${e.kind}:${e.messageType}`)).toEqual(
      expect.arrayContaining(['sent:ContractRequestMessage', 'received:ContractAgreementMessage', 'sent:ContractAgreementVerificationMessage', 'received:FinalizedEvent']),
    );
  });

  it('completes after the provider is SIGKILLed while it cannot reach the consumer, once both are back', async () => {
    // The consumer advertises a callback port on which nothing listens yet.
    const callbackPort = await freePort();
    await consumer.node!.stop();
    const blocked = { HEDGEROW_PUBLIC_API_BASE_URL: `https://localhost:${callbackPort}` };
    await startMember(consumer, blocked);
    const started = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId, offerId: await offerId() });
    const providerPid = await eventually(async () => (await state(consumer, started.id)).providerPid);
    // The provider agreed and keeps retrying the agreement message: kill it hard.
    await eventually(async () => {
      const n = await state(provider, providerPid);
      return n.state === 'AGREED' && n.pendingMessages.length === 1 && n.pendingMessages[0].attempts >= 1;
    });
    expect(await provider.node!.stop('SIGKILL')).toBeNull();
    // Both come back: the consumer now listening where it said it would.
    await consumer.node!.stop();
    await startMember(consumer, { ...blocked, HEDGEROW_PUBLIC_API_PORT: String(callbackPort) });
    await startMember(provider);
    const finalized = await eventually(async () => {
      const n = await state(consumer, started.id);
      return n.state === 'FINALIZED' && n;
    });
    expect((await state(provider, providerPid)).state).toBe('FINALIZED');
    expect(finalized.agreementId).toBeTruthy();
    await consumer.node!.stop();
    await startMember(consumer);
  });

  it('delivers the request once a provider that was down comes back', async () => {
    // The offer was found in the catalog earlier; the provider has gone offline since.
    const catalog = await api(consumer, 'POST', '/catalog/request', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId });
    const offer = catalog.dataset[0].hasPolicy[0];
    await provider.node!.stop();
    const byId = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId, offerId: offer['@id'] }).catch((e: Error) => e);
    expect(String(byId)).toMatch(/502.*PEER_UNREACHABLE.*cannot reach localhost/);
    const started = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId, offer, datasetId: catalog.dataset[0]['@id'] });
    await eventually(async () => {
      const n = await state(consumer, started.id);
      return n.pendingMessages[0]?.attempts >= 2 && /ECONNREFUSED|connect/i.test(n.pendingMessages[0].lastError ?? '');
    });
    expect((await state(consumer, started.id)).state).toBe('REQUESTED');
    await startMember(provider);
    const n = await eventually(async () => {
      const x = await state(consumer, started.id);
      return x.state === 'FINALIZED' && x;
    });
    expect(n.error).toBeNull();
  });

  it('terminates with the policy decision as reason when the contract policy denies', async () => {
    await publishSample(provider, {
      assetId: 'ministry-only',
      contractPolicy: { permission: [{ action: 'use', constraint: [{ leftOperand: 'participantId', operator: 'eq', rightOperand: 'did:web:ministry.example' }] }] },
    });
    const catalog = await api(consumer, 'POST', '/catalog/request', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId });
    const ds = catalog.dataset.find((d: { '@id': string }) => d['@id'] === 'ministry-only');
    const started = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dspOf(), counterPartyId: provider.participantId, offer: ds.hasPolicy[0], datasetId: 'ministry-only' });
    const n = await eventually(async () => {
      const x = await state(consumer, started.id);
      return x.state === 'TERMINATED' && x;
    });
    expect(n.error).toMatch(/POLICY_DENIED|participantId/);
    const theirs = await state(provider, n.providerPid);
    const decision = theirs.timeline.find((e: { kind: string }) => e.kind === 'decision');
    expect(decision.detail).toMatchObject({ allowed: false, scope: 'negotiation' });
    expect(decision.detail.reason).toMatch(/participantId/);
  });
});

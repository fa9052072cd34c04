/**
 * Full negotiation (request to FINALIZED) between two connector processes on loopback over HTTPS with
 * signed peer tokens; latency taken from the consumer's own timeline (first transition to the
 * FINALIZED event), throughput with 50 negotiations in flight. Catalog latency with 10,000 assets.
 */
import path from 'node:path';
import { api, coopAndAgro, eventually, publishSample, startMember, type Member } from '../helpers/dataspace';
import { tempDir } from '../helpers/cli';
import { Store } from '../../src/store/store';
import { CertStore, certificateToPem } from '../../src/pki';
import { DspClient } from '../../src/protocol/dsp/client';
import { X5cTokenSigner } from '../../src/identity/peer-token';
import { AddressGuard } from '../../src/net/address-guard';

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function negotiate(consumer: Member, provider: Member, dsp: string, offer: unknown): Promise<string> {
  const n = await api(consumer, 'POST', '/negotiations', { counterPartyAddress: dsp, counterPartyId: provider.participantId, offer, datasetId: 'parcel-yields-2026' });
  return n.id as string;
}

async function finished(consumer: Member, id: string): Promise<number> {
  const n = await eventually(async () => {
    const x = await api(consumer, 'GET', `/negotiations/${encodeURIComponent(id)}`);
    return (x.state === 'FINALIZED' || x.state === 'TERMINATED') && x;
  }, 60_000);
  if (n.state !== 'FINALIZED') throw new Error(`negotiation ended ${n.state}: ${n.error}`);
  const t = n.timeline as Array<{ at: string; messageType: string; kind: string }>;
  return Date.parse(t.find((e) => e.messageType === 'FinalizedEvent' && e.kind === 'received')!.at) - Date.parse(t[0]!.at);
}

export async function run(): Promise<Record<string, number>> {
  const tmp = tempDir('hedgerow-bench-neg-');
  const [provider, consumer] = coopAndAgro(tmp.dir);
  try {
    // 10,000 assets straight into the provider's database (the management API is not what is measured).
    const store = Store.open(path.join(provider!.dir, 'data'));
    store.transaction(() => {
      store.policies.insert({ id: 'open', title: null, policy: { permission: [{ action: 'use' }] } as never });
      const ids: string[] = [];
      for (let i = 0; i < 10_000; i++) {
        const id = `field-${String(i).padStart(5, '0')}`;
        ids.push(id);
        store.assets.insert({ id, title: `Field ${i} yields`, description: null, keywords: ['yield'], contentType: 'text/csv', originator: `farm-${i % 300}`, source: { type: 'file', path: `${id}.csv` } });
      }
      store.offers.insert({ id: 'bulk', accessPolicyId: 'open', contractPolicyId: 'open', assetIds: ids });
    });
    store.close();
    await startMember(provider!);
    await startMember(consumer!);
    await publishSample(provider!);
    const dsp = `https://localhost:${provider!.node!.publicPort}/dsp/2025-1`;

    // Catalog, measured on the wire with the consumer's identity.
    const certs = new CertStore(path.join(consumer!.dir, 'certs'));
    const identity = { participantId: consumer!.participantId, ...certs.loadIdentity() };
    const client = new DspClient({ signer: new X5cTokenSigner(() => identity), guard: new AddressGuard({ allow: ['localhost', '127.0.0.1'] }), trustedCas: () => certs.trustAnchors().map(certificateToPem) });
    const request = { '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'], '@type': 'CatalogRequestMessage' };
    const firstPage: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const res = await client.post(`${dsp}/catalog/request`, provider!.participantId, request);
      if (res.status !== 200) throw new Error(`catalog HTTP ${res.status}`);
      firstPage.push(performance.now() - t0);
    }
    const crawlStart = performance.now();
    let after: string | undefined;
    let datasets = 0;
    for (;;) {
      const res = await client.post(`${dsp}/catalog/request?limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`, provider!.participantId, request);
      const page = ((res.body as { dataset?: Array<{ '@id': string }> }).dataset ?? []);
      if (!page.length) break;
      datasets += page.length;
      after = page[page.length - 1]!['@id'];
    }
    const crawlMs = performance.now() - crawlStart;
    await client.close();

    const catalog = await api(consumer!, 'POST', '/catalog/request', { counterPartyAddress: dsp, counterPartyId: provider!.participantId, after: 'parcel-yields-2025' });
    const offer = catalog.dataset.find((d: { '@id': string }) => d['@id'] === 'parcel-yields-2026').hasPolicy[0];

    await finished(consumer!, await negotiate(consumer!, provider!, dsp, offer)); // warm-up (TLS sessions, JIT)
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) latencies.push(await finished(consumer!, await negotiate(consumer!, provider!, dsp, offer)));

    // Throughput: 50 workers, each starting its next negotiation when its previous one is FINALIZED.
    // One shared poller lists finished negotiations, so polling does not load the consumer.
    const total = 500;
    const waiters = new Map<string, () => void>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const done = (await api(consumer!, 'GET', '/negotiations?role=consumer&state=FINALIZED&limit=100')) as Array<{ id: string }>;
        for (const n of done) waiters.get(n.id)?.();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const t0 = performance.now();
    let started = 0;
    const worker = async () => {
      while (started < total) {
        started++;
        const id = await negotiate(consumer!, provider!, dsp, offer);
        await new Promise<void>((resolve) => waiters.set(id, resolve));
        waiters.delete(id);
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    const seconds = (performance.now() - t0) / 1000;
    polling = false;
    await poller;

    return {
      'negotiation latency median (ms)': quantile(latencies, 0.5),
      'negotiation latency p95 (ms)': quantile(latencies, 0.95),
      'negotiations/s with 50 concurrent': Math.round((total / seconds) * 10) / 10,
      'catalog first page (100 datasets) median (ms)': Math.round(quantile(firstPage, 0.5) * 10) / 10,
      'catalog first page p95 (ms)': Math.round(quantile(firstPage, 0.95) * 10) / 10,
      'catalog full crawl 10,001 datasets (ms)': Math.round(crawlMs),
      'catalog datasets crawled': datasets,
    };
  } finally {
    await provider?.node?.stop();
    await consumer?.node?.stop();
    tmp.cleanup();
  }
}

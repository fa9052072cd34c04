/**
 * Footprint on small boards: resident memory idle and while a 1 GiB file is pulled (provider and
 * consumer processes, peak from /proc VmHWM), database and log growth per 1,000 negotiations, and
 * bytes written to disk by an idle connector (from /proc/<pid>/io over a minute).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, tempDir } from '../helpers/cli';
import { api, coopAndAgro, eventually, publishSample, startMember, type Member } from '../helpers/dataspace';

const MB = 1024 * 1024;
const procStatus = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const writeBytes = (pid: number) => Number(/write_bytes: (\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
const dbBytes = (m: Member) =>
  ['hedgerow.db', 'hedgerow.db-wal'].reduce((sum, f) => {
    try {
      return sum + fs.statSync(path.join(m.dir, 'data', f)).size;
    } catch {
      return sum;
    }
  }, 0);
const logBytes = (m: Member) => m.node!.logs.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);

export async function run(): Promise<Record<string, number>> {
  const tmp = tempDir('hedgerow-bench-footprint-');
  const [provider, consumer] = coopAndAgro(tmp.dir);
  try {
    await startMember(provider!);
    await startMember(consumer!);
    const dsp = `https://localhost:${provider!.node!.publicPort}/dsp/2025-1`;
    await new Promise((r) => setTimeout(r, 3000));
    const idleRss = { provider: procStatus(provider!.node!.proc.pid!, 'VmRSS'), consumer: procStatus(consumer!.node!.proc.pid!, 'VmRSS') };

    // Idle disk writes over one minute (the health sampler runs, nothing else happens).
    const w0 = writeBytes(provider!.node!.proc.pid!);
    await new Promise((r) => setTimeout(r, 60_000));
    const idleWrites = writeBytes(provider!.node!.proc.pid!) - w0;
    const settledRss = { provider: procStatus(provider!.node!.proc.pid!, 'VmRSS'), consumer: procStatus(consumer!.node!.proc.pid!, 'VmRSS') };

    // 1,000 negotiations: database and log growth on both sides.
    await publishSample(provider!);
    const catalog = await api(consumer!, 'POST', '/catalog/request', { counterPartyAddress: dsp, counterPartyId: provider!.participantId });
    const offer = catalog.dataset[0].hasPolicy[0];
    const before = { pdb: dbBytes(provider!), cdb: dbBytes(consumer!), plog: logBytes(provider!), clog: logBytes(consumer!) };
    const ids: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const started = await Promise.all(
        Array.from({ length: 50 }, () => api(consumer!, 'POST', '/negotiations', { counterPartyAddress: dsp, counterPartyId: provider!.participantId, offer, datasetId: catalog.dataset[0]['@id'] })),
      );
      ids.push(...started.map((n: { id: string }) => n.id));
      await eventually(async () => {
        const done = (await api(consumer!, 'GET', '/negotiations?role=consumer&state=FINALIZED&limit=500')) as unknown[];
        return done.length >= Math.min(ids.length, 500);
      }, 60_000);
    }
    await eventually(async () => ((await api(consumer!, 'GET', `/negotiations/${encodeURIComponent(ids[ids.length - 1]!)}`)).state === 'FINALIZED'), 60_000);
    // Idle again after traffic: everything a negotiation needs (HTTP stack, schemas, JOSE, undici) is loaded by now.
    // V8 shrinks its heap only after several seconds without allocation; 90 s leaves room for that.
    await new Promise((r) => setTimeout(r, 90_000));
    const afterTrafficRss = { provider: procStatus(provider!.node!.proc.pid!, 'VmRSS'), consumer: procStatus(consumer!.node!.proc.pid!, 'VmRSS') };

    // 1 GiB pull: peak RSS of provider and consumer (hedgerow fetch runs in the CLI process).
    const big = path.join(provider!.dir, 'data', 'assets', 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(0));
    fs.truncateSync(big, 1024 * MB);
    await publishSample(provider!, { assetId: 'big', source: { type: 'file', path: 'big.bin' } });
    const bigCatalog = await api(consumer!, 'POST', '/catalog/request', { counterPartyAddress: dsp, counterPartyId: provider!.participantId });
    const ds = bigCatalog.dataset.find((d: { '@id': string }) => d['@id'] === 'big');
    const n = await api(consumer!, 'POST', '/negotiations', { counterPartyAddress: dsp, counterPartyId: provider!.participantId, offer: ds.hasPolicy[0], datasetId: 'big' });
    const agreed = await eventually(async () => {
      const x = await api(consumer!, 'GET', `/negotiations/${encodeURIComponent(n.id)}`);
      return x.state === 'FINALIZED' && x;
    });
    const t = await api(consumer!, 'POST', '/transfers', { agreementId: agreed.agreementId });
    await eventually(async () => (await api(consumer!, 'GET', `/transfers/${encodeURIComponent(t.id)}`)).state === 'STARTED');
    const providerRssBefore = procStatus(provider!.node!.proc.pid!, 'VmRSS');
    const t0 = performance.now();
    const fetch = spawnSync(
      process.execPath,
      ['-e', `const cp=require('child_process');const c=cp.spawn(process.execPath,${JSON.stringify([CLI, 'fetch', t.id, '--out', path.join(consumer!.dir, 'big.bin'), '--json'])},{stdio:['ignore','pipe','inherit'],env:process.env});let o='';c.stdout.on('data',d=>o+=d);let peak=0;const timer=setInterval(()=>{try{const s=require('fs').readFileSync('/proc/'+c.pid+'/status','utf8');peak=Math.max(peak,Number(/VmHWM:\\s+(\\d+)/.exec(s)[1]))}catch{}},100);c.on('exit',code=>{clearInterval(timer);console.log(JSON.stringify({code,peak,out:o}))})`],
      { cwd: consumer!.dir, env: { ...process.env, HEDGEROW_CONFIG: consumer!.config, HEDGEROW_API_KEY: consumer!.apiKey, HEDGEROW_MANAGEMENT_URL: consumer!.node!.managementUrl }, encoding: 'utf8', timeout: 300_000 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const fetched = JSON.parse(fetch.stdout.trim().split('\n').pop()!) as { code: number; peak: number; out: string };
    if (fetched.code !== 0) throw new Error(`fetch failed: ${fetch.stderr}`);

    return {
      'RSS 3 s after start, provider (MB)': Math.round(idleRss.provider),
      'RSS 3 s after start, consumer (MB)': Math.round(idleRss.consumer),
      'RSS after a minute idle, provider (MB)': Math.round(settledRss.provider),
      'RSS after a minute idle, consumer (MB)': Math.round(settledRss.consumer),
      'disk writes idle, provider (bytes per minute)': idleWrites,
      'RSS idle 90 s after 1,000 negotiations, provider (MB)': Math.round(afterTrafficRss.provider),
      'RSS idle 90 s after 1,000 negotiations, consumer (MB)': Math.round(afterTrafficRss.consumer),
      'database growth per 1,000 negotiations, provider (MB)': Math.round(((dbBytes(provider!) - before.pdb) / MB) * 10) / 10,
      'database growth per 1,000 negotiations, consumer (MB)': Math.round(((dbBytes(consumer!) - before.cdb) / MB) * 10) / 10,
      'log growth per 1,000 negotiations, provider (KB)': Math.round((logBytes(provider!) - before.plog) / 1024),
      'log growth per 1,000 negotiations, consumer (KB)': Math.round((logBytes(consumer!) - before.clog) / 1024),
      '1 GiB pull with hedgerow fetch (s)': Math.round(seconds * 10) / 10,
      'RSS peak, provider process during the pull (MB)': Math.round(procStatus(provider!.node!.proc.pid!, 'VmHWM')),
      'RSS provider before the pull (MB)': Math.round(providerRssBefore),
      'RSS peak, fetch CLI process during the pull (MB)': Math.round(fetched.peak / 1024),
    };
  } finally {
    await provider?.node?.stop();
    await consumer?.node?.stop();
    tmp.cleanup();
  }
}

#!/usr/bin/env node
/**
 * End-to-end smoke test of an arm64 hedgerow under qemu user-mode emulation, driven from this (x86) process:
 * process.arch, init, start, did.json over HTTPS, /health, a management write (SQLite on arm64), a contract
 * negotiation and a pull transfer with a native x86 connector (both issued by one dataspace CA), SIGTERM, doctor.
 * Run by scripts/arm64/run.sh, which prepares the arm64 Node and modules. Prints one line per check and a
 * closing "N passed, N failed" line; exits non-zero on any failure.
 *
 * usage: node smoke.js --node ARM64_NODE --sysroot /usr/aarch64-linux-gnu --app APP_DIR
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values: opts } = parseArgs({ options: { node: { type: 'string' }, sysroot: { type: 'string' }, app: { type: 'string' } } });
if (!opts.node || !opts.sysroot || !opts.app) {
  console.error('usage: smoke.js --node ARM64_NODE --sysroot DIR --app APP_DIR');
  process.exit(64);
}
const QEMU = 'qemu-aarch64-static';
const CLI = path.join(opts.app, 'dist', 'cli', 'main.js');
// The x86 peer runs the same build natively, from the repository.
const X86_CLI = path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js');
// Emulation is 5-20x slower than native: generous, but bounded, waits.
const START_TIMEOUT_MS = 180_000;

let passed = 0;
let failed = 0;
const timings = {};

function check(name, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `  (${detail})` : ''}`);
}

function armArgs(args) {
  return ['-L', opts.sysroot, opts.node, ...args];
}

/** Environment for the connector: nothing of ours leaks in (HEDGEROW_* of the caller, NODE_OPTIONS). */
function cleanEnv(extra) {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ...extra };
}

function runArm(args, env = {}) {
  const t = Date.now();
  const r = spawnSync(QEMU, armArgs(args), { encoding: 'utf8', env: cleanEnv(env), timeout: START_TIMEOUT_MS });
  return { ...r, ms: Date.now() - t };
}

function get(url, ca) {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { ca, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function post(url, apiKey, json) {
  return send('POST', url, apiKey, json);
}

function send(method, url, apiKey, json) {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? '' : JSON.stringify(json);
    const req = http.request(
      url,
      { method, timeout: 60_000, headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Start a connector (arm64 under qemu, or x86 natively); resolves with its "hedgerow listening" log entry. */
function startConnector(cwd, env, arm = true) {
  const t = Date.now();
  const [command, args] = arm ? [QEMU, armArgs([CLI, 'start'])] : [process.execPath, [X86_CLI, 'start']];
  const proc = spawn(command, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${arm ? 'arm64' : 'x86'} connector did not listen within ${START_TIMEOUT_MS} ms:\n${logs.join('\n')}`));
    }, START_TIMEOUT_MS);
    let buffer = '';
    proc.stderr.on('data', (d) => logs.push(String(d)));
    proc.stdout.on('data', (d) => {
      buffer += d;
      for (let nl; (nl = buffer.indexOf('\n')) >= 0; ) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        try {
          const entry = JSON.parse(line);
          if (entry.msg === 'hedgerow listening') {
            clearTimeout(timer);
            resolve({ entry, ms: Date.now() - t });
          }
        } catch {
          /* not a JSON log line */
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${arm ? 'arm64' : 'x86'} connector exited (${code ?? signal}) before listening:\n${logs.join('\n')}`));
    });
  });
  return { proc, logs, exited, listening };
}

async function main() {
  const arch = runArm(['-p', 'process.arch + " " + process.version']);
  check('the emulated Node is arm64', arch.status === 0 && arch.stdout.startsWith('arm64 '), arch.stdout.trim() || arch.stderr.trim());
  timings.nodeStartMs = arch.ms;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-arm64-'));
  const envFor = (name) => ({
    HEDGEROW_DATA_DIR: path.join(dir, name, 'data'),
    HEDGEROW_CERTS_DIR: path.join(dir, name, 'certs'),
    HEDGEROW_PUBLIC_API_HOST: '127.0.0.1',
    HEDGEROW_PUBLIC_API_PORT: '0',
    HEDGEROW_MANAGEMENT_API_PORT: '0',
    HEDGEROW_LOG_FORMAT: 'json',
    // Both peers are on loopback, which the SSRF guard refuses unless allowed.
    HEDGEROW_DSP_ALLOWED_ADDRESSES: 'localhost,127.0.0.1',
    HEDGEROW_DATAPLANE_ROOT: path.join(dir, name, 'assets'),
    HEDGEROW_DATAPLANE_DOWNLOAD_DIR: path.join(dir, name, 'downloads'),
  });
  const env = envFor('arm64');
  const caDir = path.join(dir, 'ca');
  let node;
  let peer;
  try {
    const ca = spawnSync(process.execPath, [X86_CLI, 'ca', 'init', '--dir', caDir, '--name', 'arm64 smoke dataspace CA'], { encoding: 'utf8', env: cleanEnv({}) });
    if (ca.status !== 0) throw new Error(`ca init: ${ca.stderr}`);
    const init = runArm([CLI, 'init', '--participant-id', 'did:web:arm64.example', '--hostname', 'localhost', '--organization', 'Arm Coop', '--country', 'FR', '--ca', caDir], env);
    const apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout ?? '')?.[1];
    check('hedgerow init (arm64 better-sqlite3 and key generation)', init.status === 0 && !!apiKey, init.status === 0 ? `${init.ms} ms` : init.stderr.trim());
    timings.initMs = init.ms;
    if (!apiKey) return;

    node = startConnector(dir, env);
    const { entry, ms } = await node.listening;
    timings.startMs = ms;
    timings.reportedStartupMs = entry.startupMs;
    check('hedgerow start listens', true, `${ms} ms under emulation, connector reports ${entry.startupMs} ms`);

    const port = Number(String(entry.publicListener).split(':').pop());
    const caPem = fs.readFileSync(path.join(caDir, 'ca.crt.pem'));
    const did = await get(`https://localhost:${port}/.well-known/did.json`, caPem);
    const doc = did.status === 200 ? JSON.parse(did.body) : {};
    check('x86 client fetches did.json over HTTPS (TLS verified with the dataspace CA)', did.status === 200 && doc.id === 'did:web:arm64.example', `HTTP ${did.status}`);

    const health = await get(`${entry.managementUrl}/health`);
    const report = health.status === 200 ? JSON.parse(health.body) : {};
    check('/health is ok and reports arch arm64', health.status === 200 && report.live === true && report.device?.arch === 'arm64', `HTTP ${health.status}, arch ${report.device?.arch}`);

    const asset = await post(`${entry.managementUrl}/api/v1/assets`, apiKey, { id: 'arm64-smoke', title: 'written on arm64', source: { type: 'http', url: 'https://data.example/x' } });
    check('management write (SQLite WAL on arm64) is acknowledged', asset.status === 201, `HTTP ${asset.status}`);

    // A contract negotiation: the arm64 connector as consumer, a native x86 connector as provider.
    const peerEnv = envFor('x86');
    const peerInit = spawnSync(process.execPath, [X86_CLI, 'init', '--participant-id', 'did:web:x86.example', '--hostname', 'localhost', '--ca', caDir], { encoding: 'utf8', env: cleanEnv(peerEnv) });
    const peerKey = /management API key[^:]*: (hr_\S+)/.exec(peerInit.stdout ?? '')?.[1];
    if (!peerKey) throw new Error(`x86 peer init: ${peerInit.stderr}`);
    peer = startConnector(dir, peerEnv, false);
    const { entry: peerEntry } = await peer.listening;
    const provider = peerEntry.managementUrl + '/api/v1';
    const yields = Buffer.from('parcel,crop,yield_t_ha\nFR-44-0012,wheat,7.9\nFR-44-0013,maize,10.2\n'.repeat(2000));
    fs.mkdirSync(peerEnv.HEDGEROW_DATAPLANE_ROOT, { recursive: true });
    fs.writeFileSync(path.join(peerEnv.HEDGEROW_DATAPLANE_ROOT, 'yields.csv'), yields);
    const published = [
      await post(`${provider}/assets`, peerKey, { id: 'parcel-yields', title: 'Parcel yields', source: { type: 'file', path: 'yields.csv' } }),
      await post(`${provider}/policies`, peerKey, { id: 'open', policy: { permission: [{ action: 'use' }] } }),
      await post(`${provider}/offers`, peerKey, { id: 'yields-offer', accessPolicyId: 'open', contractPolicyId: 'open', assetIds: ['parcel-yields'] }),
    ];
    if (published.some((r) => r.status !== 201)) throw new Error(`publishing on the x86 peer: ${published.map((r) => r.body).join(' ')}`);
    const dsp = `https://localhost:${Number(String(peerEntry.publicListener).split(':').pop())}/dsp/2025-1`;
    const consumer = entry.managementUrl + '/api/v1';
    const catalog = await post(`${consumer}/catalog/request`, apiKey, { counterPartyAddress: dsp, counterPartyId: 'did:web:x86.example' });
    const offerId = catalog.status === 200 ? JSON.parse(catalog.body).dataset?.[0]?.hasPolicy?.[0]?.['@id'] : undefined;
    check('arm64 consumer reads the x86 provider\'s catalog over DSP', !!offerId, `HTTP ${catalog.status}`);
    const t = Date.now();
    const started = await post(`${consumer}/negotiations`, apiKey, { counterPartyAddress: dsp, counterPartyId: 'did:web:x86.example', offerId });
    let negotiation = started.status === 201 ? JSON.parse(started.body) : {};
    while (started.status === 201 && negotiation.state !== 'FINALIZED' && negotiation.state !== 'TERMINATED' && Date.now() - t < 90_000) {
      await new Promise((r) => setTimeout(r, 250));
      negotiation = JSON.parse((await send('GET', `${consumer}/negotiations/${encodeURIComponent(negotiation.id)}`, apiKey)).body);
    }
    timings.negotiationMs = Date.now() - t;
    const agreement = negotiation.agreementId ? await send('GET', `${provider}/agreements/${encodeURIComponent(negotiation.agreementId)}`, peerKey) : { status: 0 };
    check('negotiation with the x86 provider reaches FINALIZED; the provider holds the agreement', negotiation.state === 'FINALIZED' && agreement.status === 200, `${negotiation.state ?? `HTTP ${started.status} ${started.body}`} in ${timings.negotiationMs} ms`);

    // A pull transfer: the arm64 consumer downloads the file and checks the provider's SHA-256.
    const tt = Date.now();
    const transfer = await post(`${consumer}/transfers`, apiKey, { agreementId: negotiation.agreementId });
    let tstate = transfer.status === 201 ? JSON.parse(transfer.body) : {};
    while (transfer.status === 201 && tstate.state === 'REQUESTED' && Date.now() - tt < 60_000) {
      await new Promise((r) => setTimeout(r, 250));
      tstate = JSON.parse((await send('GET', `${consumer}/transfers/${encodeURIComponent(tstate.id)}`, apiKey)).body);
    }
    const pulled = tstate.state === 'STARTED' ? await post(`${consumer}/transfers/${encodeURIComponent(tstate.id)}/download`, apiKey, { fileName: 'yields.csv' }) : { status: 0, body: tstate.state };
    timings.pullMs = Date.now() - tt;
    const expected = require('node:crypto').createHash('sha256').update(yields).digest('hex');
    const result = pulled.status === 200 ? JSON.parse(pulled.body) : {};
    check('pull transfer from the x86 provider: file downloaded, SHA-256 as published', result.sha256 === expected && fs.readFileSync(path.join(env.HEDGEROW_DATAPLANE_DOWNLOAD_DIR, 'yields.csv')).equals(yields), `${result.bytes ?? pulled.body} bytes in ${timings.pullMs} ms`);

    node.proc.kill('SIGTERM');
    const { code } = await node.exited;
    check('SIGTERM stops it with exit code 0', code === 0, `exit ${code}`);
    node = undefined;

    const doctor = runArm([CLI, 'doctor'], env);
    check('doctor after stop: database passes integrity_check', /^OK\s+database\s+.*integrity_check/m.test(doctor.stdout ?? ''), doctor.stdout.split('\n').find((l) => /database/.test(l)) ?? doctor.stderr.trim());
  } catch (err) {
    check('smoke test ran to the end', false, err.message);
  } finally {
    if (node) node.proc.kill('SIGKILL');
    if (peer) peer.proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log(`arm64 timings: ${JSON.stringify(timings)}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed || passed === 0 ? 1 : 0;
});

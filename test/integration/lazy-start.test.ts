import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { runCli, startNode, tempDir, type RunningNode } from '../helpers/cli';

/**
 * What an idle connector keeps in memory: it starts and answers health probes without loading express
 * or Ajv (src/server/health-endpoints.ts, src/lazy.ts), and loads express with the first API request.
 * A preloaded hook in the child reports every first load of a watched package on stderr.
 */
const WATCHED = ['express', 'ajv/dist/2019', 'undici', 'jose', 'systeminformation']; // Ajv's compiler, not its small runtime helpers

describe('lazy start (child process)', () => {
  const tmp = tempDir();
  let node: RunningNode | undefined;
  let apiKey: string;
  const loaded = () =>
    node!.logs
      .join('\n')
      .split('\n')
      .flatMap((l) => /^module loaded: (\S+)$/.exec(l)?.[1] ?? []);

  beforeAll(async () => {
    const init = runCli(['init', '--hostname', 'localhost'], { cwd: tmp.dir });
    expect(init.status).toBe(0);
    apiKey = /management API key[^:]*: (hr_\S+)/.exec(init.stdout)![1]!;
    const hook = path.join(tmp.dir, 'watch-loads.js');
    fs.writeFileSync(
      hook,
      `const Module = require('module'); const load = Module._load; const seen = new Set(); const watched = ${JSON.stringify(WATCHED)};
       Module._load = function (request) {
         if (watched.includes(request) && !seen.has(request)) { seen.add(request); process.stderr.write('module loaded: ' + request + '\\n'); }
         return load.apply(this, arguments);
       };`,
    );
    node = await startNode({ cwd: tmp.dir, env: { NODE_OPTIONS: `--require ${hook}` } });
  });

  afterAll(async () => {
    await node?.stop();
    tmp.cleanup();
  });

  it('starts and answers health probes without express, Ajv, undici, jose or systeminformation', async () => {
    for (const probe of ['/health', '/health/live', '/health/ready', '/health/?verbose=1']) {
      const res = await request(`${node!.managementUrl}${probe}`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      await res.body.json();
    }
    const head = await request(`${node!.managementUrl}/health`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    await head.body.dump();
    expect(loaded()).toEqual([]);
  });

  it('loads express with the first other request, which is served normally', async () => {
    const denied = await request(`${node!.managementUrl}/api/v1/assets`);
    expect(denied.statusCode).toBe(401);
    await denied.body.dump();
    const assets = await request(`${node!.managementUrl}/api/v1/assets`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(assets.statusCode).toBe(200);
    expect(await assets.body.json()).toEqual([]);
    expect(loaded()).toContain('express');

    const metrics = await request(`${node!.managementUrl}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } });
    const text = await metrics.body.text();
    // Health probes answered before express existed are counted like any other request.
    expect(text).toMatch(/hedgerow_http_requests_total\{listener="management",method="GET",route="\/health",status="200"\} 2/);
  });
});

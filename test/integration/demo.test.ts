import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/cli';

/** `npm run demo` (after the build) must work end to end and leave nothing behind. */
it('runs the two-connector demo to an agreement and cleans up', () => {
  const before = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('hedgerow-demo-')));
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'demo', 'demo.js')], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/received\s+FinalizedEvent\s+VERIFIED -> FINALIZED/);
  expect(r.stdout).toContain('"assignee": "did:web:agro.example"');
  const published = /published by the cooperative: ([0-9a-f]{64})/.exec(r.stdout)?.[1];
  const computed = /computed by the agronomy:\s+([0-9a-f]{64})/.exec(r.stdout)?.[1];
  expect(published).toBeDefined();
  expect(computed).toBe(published);
  expect(r.stdout).toContain('transfer COMPLETED on both sides');
  expect(r.stdout).toContain('demo succeeded');
  const after = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('hedgerow-demo-') && !before.has(f));
  expect(after).toEqual([]);
});

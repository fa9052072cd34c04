import type { AddressInfo } from 'node:net';
import express from 'express';
import { createDspRouter, type DspRouterDeps } from '../../src/protocol/dsp/router';

/** The DSP router alone on a free loopback port (plain HTTP): `base` is its /dsp/2025-1 URL. */
export async function serveDspRouter(deps: DspRouterDeps): Promise<{ base: string; close: () => Promise<void> }> {
  const app = express();
  app.use(createDspRouter(deps));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/dsp/2025-1`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

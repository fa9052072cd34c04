/**
 * Libraries loaded on first use instead of at start-up. On a Raspberry Pi-class box every module
 * loaded at start costs start time and resident memory for as long as the process lives; jose and
 * undici are only needed once a peer is contacted, systeminformation only for device health off Linux.
 */
export function lazy<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const joseLib = lazy(() => require('jose') as typeof import('jose'));
export const undiciLib = lazy(() => require('undici') as typeof import('undici'));
export const systemInformation = lazy(() => require('systeminformation') as typeof import('systeminformation'));
export const tarLib = lazy(() => require('tar') as typeof import('tar'));
/**
 * express and its ~100 modules: an idle connector answers health probes without them, and builds its HTTP
 * applications on the first other request (onFirstRequest in src/server/health-endpoints.ts).
 */
export const expressLib = lazy(() => require('express') as typeof import('express'));
/** Ajv compiles schemas into code: at start that costs ~2 MB resident and optimising-compiler work. */
export const ajv2019Lib = lazy(() => (require('ajv/dist/2019') as typeof import('ajv/dist/2019')).default);

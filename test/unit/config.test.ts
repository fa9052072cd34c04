import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configReference, DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load';
import { configKeys } from '../../src/config/schema';
import { ConfigError } from '../../src/errors';

describe('configuration', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-config-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };
  const expectConfigError = (fn: () => unknown, pattern: RegExp) => {
    let thrown: unknown;
    try {
      fn();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).exitCode).toBe(2);
    expect((thrown as Error).message).toMatch(pattern);
  };

  it('has the documented defaults', () => {
    const { config } = loadConfig({ env: {} });
    expect(config.publicApi).toMatchObject({ host: '0.0.0.0', port: 8443 });
    expect(config.managementApi).toEqual({ host: '127.0.0.1', port: 8181 });
    expect(config.dataDir).toBe('./data');
    expect(config.certsDir).toBe('./certs');
  });

  it('layers file, environment and flags in that order and records sources', () => {
    const file = write('local.json', JSON.stringify({ publicApi: { port: 9443 }, log: { level: 'debug' } }));
    const { config, sources } = loadConfig({
      file,
      env: { HEDGEROW_PUBLIC_API_PORT: '10443', HEDGEROW_PUBLIC_API_REQUEST_CLIENT_CERTIFICATE: 'true' },
      overrides: { dataDir: '/srv/hedgerow' },
    });
    expect(config.publicApi.port).toBe(10443);
    expect(config.publicApi.requestClientCertificate).toBe(true);
    expect(config.log.level).toBe('debug');
    expect(config.dataDir).toBe('/srv/hedgerow');
    expect(sources['publicApi.port']).toBe('HEDGEROW_PUBLIC_API_PORT');
    expect(sources['log.level']).toBe('local.json');
    expect(sources.dataDir).toBe('command line');
  });

  it('reads the file named by HEDGEROW_CONFIG', () => {
    const file = write('env.json', JSON.stringify({ shutdown: { graceSeconds: 3 } }));
    expect(loadConfig({ env: { HEDGEROW_CONFIG: file } }).config.shutdown.graceSeconds).toBe(3);
  });

  it('rejects unknown keys, naming them', () => {
    const file = write('unknown.json', JSON.stringify({ publicApi: { prot: 1 } }));
    expectConfigError(() => loadConfig({ file, env: {} }), /unknown configuration key publicApi\.prot/);
  });

  it('rejects wrong types, naming key and source', () => {
    const file = write('type.json', JSON.stringify({ managementApi: { port: 'eighty' } }));
    expectConfigError(() => loadConfig({ file, env: {} }), /managementApi\.port must be integer.*type\.json/);
    expectConfigError(() => loadConfig({ env: { HEDGEROW_PUBLIC_API_PORT: 'x' } }), /HEDGEROW_PUBLIC_API_PORT.*must be a number/);
    expectConfigError(() => loadConfig({ env: { HEDGEROW_PUBLIC_API_PORT: '70000' } }), /publicApi\.port must be <= 65535/);
    expectConfigError(() => loadConfig({ env: { HEDGEROW_LOG_LEVEL: 'loud' } }), /log\.level must be equal to one of the allowed values \(one of debug/);
  });

  it('rejects unknown HEDGEROW_ environment variables', () => {
    expectConfigError(() => loadConfig({ env: { HEDGEROW_PUBLIC_PORT: '1' } }), /unknown environment variable HEDGEROW_PUBLIC_PORT/);
  });

  it('rejects a missing or malformed file with one clear line', () => {
    expectConfigError(() => loadConfig({ file: path.join(dir, 'nope.json'), env: {} }), /nope\.json cannot be read: no such file/);
    const bad = write('bad.json', '{ "publicApi": ');
    expectConfigError(() => loadConfig({ file: bad, env: {} }), /bad\.json is not valid JSON/);
    const arr = write('arr.json', '[]');
    expectConfigError(() => loadConfig({ file: arr, env: {} }), /must contain a JSON object/);
  });

  it('refuses prototype keys in a file instead of merging them into Object.prototype', () => {
    try {
      for (const [name, content] of [
        ['proto.json', '{"__proto__":{"polluted":1}}'],
        ['proto-nested.json', '{"log":{"__proto__":{"polluted":1}}}'],
        ['ctor.json', '{"log":{"constructor":{"prototype":{"polluted":1}}}}'],
      ] as const) {
        expectConfigError(() => loadConfig({ file: write(name, content), env: {} }), /unknown configuration key (log\.)?(__proto__|constructor) \(in .*\.json\)/);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    expect(loadConfig({ env: {} }).config.log.level).toBeDefined(); // Ajv still works
  });

  it('names the variable of a malformed JSON array in the environment', () => {
    expectConfigError(() => loadConfig({ env: { HEDGEROW_DSP_ALLOWED_ADDRESSES: '[x' } }), /^HEDGEROW_DSP_ALLOWED_ADDRESSES="\[x": dsp\.allowedAddresses is not a valid JSON array/);
    expect(loadConfig({ env: { HEDGEROW_DSP_ALLOWED_ADDRESSES: '["10.0.0.0/8"]' } }).config.dsp.allowedAddresses).toEqual(['10.0.0.0/8']);
  });

  it('accepts null for nullable keys from the environment', () => {
    expect(loadConfig({ env: { HEDGEROW_PUBLIC_API_BASE_URL: 'https://coop.example:8443' } }).config.publicApi.baseUrl).toBe(
      'https://coop.example:8443',
    );
    expect(loadConfig({ env: { HEDGEROW_PUBLIC_API_BASE_URL: '' } }).config.publicApi.baseUrl).toBeNull();
    expectConfigError(() => loadConfig({ env: { HEDGEROW_PUBLIC_API_BASE_URL: 'http://x' } }), /publicApi\.baseUrl must match/);
  });

  it('keeps default.json, the schema and the README reference in sync', () => {
    const defaults = JSON.parse(fs.readFileSync(DEFAULT_CONFIG_FILE, 'utf8'));
    const leaves = (o: Record<string, unknown>, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length ? leaves(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    expect(leaves(defaults).sort()).toEqual(configKeys().map((k) => k.path).sort());
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const row of configReference().split('\n').slice(2)) expect(readme).toContain(row);
  });
});

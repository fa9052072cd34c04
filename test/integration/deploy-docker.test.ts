import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load';
import { CLI, ROOT, childEnv, runCli, startNode, tempDir } from '../helpers/cli';

/**
 * No container engine runs here, so this checks what can be checked without one: that the image's entry point,
 * command and health check are real CLI commands, flags and endpoints of this build; that its paths, ports and
 * HEDGEROW_* variables are what the configuration loader accepts; that the compose file parses and wires the same
 * volumes into the one-shot PKI service and the connectors; and the PKI script itself, run for real.
 */
const DOCKERFILE = path.join(ROOT, 'deploy', 'docker', 'Dockerfile');
const COMPOSE = path.join(ROOT, 'deploy', 'compose.yaml');
const INIT_SCRIPT = path.join(ROOT, 'deploy', 'docker', 'init-dataspace.sh');

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions, continuation lines joined, comments dropped; `stage` counts FROM lines. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  let stage = -1;
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      if (op!.toUpperCase() === 'FROM') stage++;
      return { op: op!.toUpperCase(), args: rest.join(' '), stage };
    });
}

/** `ENV A=1 B=2` (the form this Dockerfile uses). */
function envOf(instructions: Instruction[], stage: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructions.filter((x) => x.op === 'ENV' && x.stage === stage)) {
    for (const pair of i.args.split(/\s+/)) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

// Each step runs whole installs or CLI processes: slow when the machine is busy.
jest.setTimeout(120_000);

describe('container image and compose demo', () => {
  const instructions = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
  const finalStage = Math.max(...instructions.map((i) => i.stage));
  const runtime = instructions.filter((i) => i.stage === finalStage);
  const one = (op: string) => runtime.filter((i) => i.op === op).pop()!.args;
  const imageEnv = envOf(instructions, finalStage);
  const volumes: string[] = JSON.parse(one('VOLUME'));
  const compose = parseYaml(fs.readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: Record<string, any> };
  const tmp = tempDir('hedgerow-docker-');
  afterAll(() => tmp.cleanup());

  it('is multi-stage on Node 22 LTS slim and runs as a non-root user', () => {
    expect(fs.readFileSync(DOCKERFILE, 'utf8')).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    expect(finalStage).toBeGreaterThanOrEqual(1);
    expect(instructions.filter((i) => i.op === 'FROM').every((i) => i.args.startsWith('${NODE_IMAGE}'))).toBe(true);
    const user = one('USER');
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.find((i) => i.op === 'RUN' && i.args.includes('useradd'))!.args).toContain(user);
    // The build stage compiles better-sqlite3 and the TypeScript with the scripts this package has.
    const build = instructions.filter((i) => i.stage === 0 && i.op === 'RUN').map((i) => i.args).join(' ');
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(build).toContain('npm rebuild better-sqlite3');
    expect(pkg.dependencies['better-sqlite3']).toBeDefined();
    expect(build).toContain('npm run build');
    expect(pkg.scripts.build).toBeDefined();
  });

  it('copies only files that exist and that the build context does not exclude', () => {
    const ignored = fs
      .readFileSync(`${DOCKERFILE}.dockerignore`, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    const sources = instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
      expect(ignored).not.toContain(source);
    }
    for (const heavy of ['node_modules', 'dist', '.cache', 'certs', 'data', '.git']) expect(ignored).toContain(heavy);
  });

  it('starts a real CLI command with real flags (ENTRYPOINT + CMD, run with --help against dist)', () => {
    const entrypoint: string[] = JSON.parse(one('ENTRYPOINT'));
    const cmd: string[] = JSON.parse(one('CMD'));
    expect(entrypoint[0]).toBe('node');
    expect(entrypoint[1]).toBe(`${one('WORKDIR')}/dist/cli/main.js`);
    expect(cmd).toEqual(['start', '--init-if-missing']);
    // Unknown options are refused even with --help, so exit 0 means every flag exists.
    const r = spawnSync(process.execPath, [CLI, ...cmd, '--help'], { encoding: 'utf8', env: childEnv() });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: hedgerow start/);
    for (const flag of cmd.filter((a) => a.startsWith('--'))) expect(r.stdout).toContain(flag);
  });

  it('keeps data and certificates in volumes named by HEDGEROW_* variables the configuration accepts', () => {
    const hedgerowEnv = Object.fromEntries(Object.entries(imageEnv).filter(([k]) => k.startsWith('HEDGEROW_')));
    const { config } = loadConfig({ env: hedgerowEnv });
    expect(volumes.sort()).toEqual([config.certsDir, config.dataDir].sort());
    expect(config.log.format).toBe('json');
    expect(one('EXPOSE')).toBe(String(config.publicApi.port));
  });

  it('has a HEALTHCHECK that passes against a running connector and fails when none answers', async () => {
    const healthcheck = one('HEALTHCHECK');
    const probe: string[] = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim());
    expect(probe[0]).toBe('node');
    expect(probe[2]).toContain('/health');
    const dir = path.join(tmp.dir, 'health');
    fs.mkdirSync(dir);
    expect(runCli(['init', '--hostname', 'localhost'], { cwd: dir }).status).toBe(0);
    const node = await startNode({ cwd: dir });
    try {
      const port = new URL(node.managementUrl).port;
      const ok = spawnSync(process.execPath, probe.slice(1), { env: childEnv({ HEDGEROW_MANAGEMENT_API_PORT: port }), timeout: 10_000 });
      expect(ok.status).toBe(0);
    } finally {
      await node.stop('SIGTERM');
    }
    const down = spawnSync(process.execPath, probe.slice(1), { env: childEnv({ HEDGEROW_MANAGEMENT_API_PORT: '1' }), timeout: 10_000 });
    expect(down.status).toBe(1);
  });

  describe('deploy/compose.yaml', () => {
    const connectors = ['coop', 'agronomy'];

    it('builds one image from the repository root with the Dockerfile', () => {
      for (const service of ['pki', ...connectors]) {
        expect(compose.services[service].build).toEqual({ context: '..', dockerfile: 'deploy/docker/Dockerfile' });
        expect(fs.existsSync(path.resolve(path.dirname(COMPOSE), compose.services[service].build.context, compose.services[service].build.dockerfile))).toBe(true);
      }
    });

    it('gives each connector its data and certificate volumes where the image expects them, and only accepted variables', () => {
      for (const name of connectors) {
        const service = compose.services[name];
        const mounts = Object.fromEntries((service.volumes as string[]).map((v) => v.split(':')).map(([volume, target]) => [target, volume]));
        expect(Object.keys(mounts).sort()).toEqual([...volumes].sort());
        const { config } = loadConfig({ env: { ...Object.fromEntries(Object.entries(imageEnv).filter(([k]) => k.startsWith('HEDGEROW_'))), ...service.environment } });
        expect(mounts[config.dataDir]).toBe(`${name}-data`);
        expect(mounts[config.certsDir]).toBe(`${name}-certs`);
        // Published ports: the public listener's, and the management listener's on the host's loopback only.
        const targets = (service.ports as string[]).map((p) => p.split(':'));
        expect(targets.some((p) => p.length === 2 && p[1] === String(config.publicApi.port))).toBe(true);
        expect(targets.some((p) => p[0] === '127.0.0.1' && p[2] === String(config.managementApi.port))).toBe(true);
        expect(service.depends_on.pki.condition).toBe('service_completed_successfully');
      }
    });

    it('mounts the same volumes into the one-shot PKI service where its script writes', () => {
      const pki = compose.services.pki;
      const mounts = Object.fromEntries((pki.volumes as string[]).map((v) => v.split(':')).map(([source, target]) => [target, source]));
      const script = pki.entrypoint[pki.entrypoint.length - 1];
      expect(path.resolve(path.dirname(COMPOSE), mounts[script]!)).toBe(INIT_SCRIPT);
      for (const name of connectors) {
        expect(mounts[`/dataspace/${name}/data`]).toBe(`${name}-data`);
        expect(mounts[`/dataspace/${name}/certs`]).toBe(`${name}-certs`);
      }
      expect(fs.readFileSync(INIT_SCRIPT, 'utf8')).toMatch(/BASE="\$\{DATASPACE_DIR:-\/dataspace\}"/);
    });

    it('its PKI script initialises both connectors from one CA, once (run here with the built CLI)', () => {
      const base = path.join(tmp.dir, 'dataspace');
      const env = childEnv({ HEDGEROW: `${process.execPath} ${CLI}`, DATASPACE_DIR: base });
      const first = spawnSync('sh', [INIT_SCRIPT], { encoding: 'utf8', env, timeout: 60_000 });
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      expect(first.stdout.match(/management API key[^:]*: hr_\S+/g)).toHaveLength(2);
      const anchors = connectors.map((name) => {
        const status = runCli(['certs', 'status', '--json', '--certs-dir', path.join(base, name, 'certs'), '--data-dir', path.join(base, name, 'data')], { cwd: base });
        expect(status.status).toBe(0); // chain valid to a trust anchor
        const info = JSON.parse(status.stdout);
        expect(info.participantId).toBe(`did:web:${name}%3A8443`);
        expect(info.hostnames).toEqual([name, 'localhost']);
        return runCli(['trust', 'list', '--certs-dir', path.join(base, name, 'certs')], { cwd: base }).stdout;
      });
      expect(anchors[0]).toBe(anchors[1]); // the same dataspace CA on both sides
      const again = spawnSync('sh', [INIT_SCRIPT], { encoding: 'utf8', env, timeout: 60_000 });
      expect(again.status).toBe(0);
      expect(again.stdout).toBe('coop: already initialised\nagronomy: already initialised\n');
    });
  });
});

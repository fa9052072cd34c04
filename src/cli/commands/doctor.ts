import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { configFrom, defineCommand, type CommandIo, type Values } from '../command';
import { describeError } from '../../errors';
import type { HedgerowConfig } from '../../config/schema';
import { openDatabase, integrityCheck, pendingMigrations } from '../../store/database';
import { Store } from '../../store/store';
import { CertStore, certificateInfo, validateChain } from '../../pki';
import { diskSpace } from '../../health/device';

type Level = 'OK' | 'WARN' | 'FAIL';
interface Finding {
  level: Level;
  check: string;
  detail: string;
}

/** The earliest plausible "now": a clock behind this was never set (typical of a board without RTC after a power cut). */
const CLOCK_FLOOR = Date.parse('2026-01-01T00:00:00Z');

function probePort(host: string, port: number): Promise<'free' | 'listening'> {
  return new Promise((resolve) => {
    const connectHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const socket = net.connect({ host: connectHost, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('listening');
    });
    socket.once('error', () => resolve('free'));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('free');
    });
  });
}

/** SHA-256 fingerprint of the certificate a TLS listener presents, or null. */
function presentedFingerprint(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: host === '0.0.0.0' ? '127.0.0.1' : host, port, rejectUnauthorized: false, timeout: 2000 }, () => {
      const fp = socket.getPeerCertificate()?.fingerprint256 ?? null;
      socket.destroy();
      resolve(fp);
    });
    socket.once('error', () => resolve(null));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(null);
    });
  });
}

async function runChecks(config: HedgerowConfig, configNote: string): Promise<Finding[]> {
  const findings: Finding[] = [{ level: 'OK', check: 'configuration', detail: configNote }];
  const add = (level: Level, check: string, detail: string) => findings.push({ level, check, detail });

  // Database: opened read-only so that doctor never migrates or writes.
  const dbFile = Store.databaseFile(config.dataDir);
  if (!fs.existsSync(dbFile)) add('FAIL', 'database', `${dbFile} does not exist: run "hedgerow init"`);
  else {
    try {
      const db = openDatabase(dbFile, { readonly: true, busyTimeoutMs: config.database.busyTimeoutMs });
      try {
        const problems = integrityCheck(db);
        if (problems.length === 1 && problems[0] === 'ok') add('OK', 'database', `${dbFile} passes integrity_check`);
        else add('FAIL', 'database', `integrity_check: ${problems.slice(0, 3).join('; ')}`);
        const pending = pendingMigrations(db);
        if (pending.length) add('WARN', 'schema', `${pending.length} migration(s) pending; applied at next start`);
      } finally {
        db.close();
      }
    } catch (err) {
      add('FAIL', 'database', describeError(err));
    }
  }

  // Key, certificate, chain.
  const certStore = new CertStore(config.certsDir);
  let fingerprint: string | null = null;
  try {
    const keyMode = fs.statSync(certStore.keyFile).mode & 0o777;
    if (keyMode & 0o077) add('WARN', 'key permissions', `${certStore.keyFile} is mode ${keyMode.toString(8)}, expected 600`);
    const { chain } = certStore.loadIdentity();
    const info = certificateInfo(chain[0]!);
    fingerprint = info.fingerprintSha256;
    add('OK', 'key', `key matches certificate ${info.fingerprintSha256}`);
    try {
      const { anchor } = validateChain(chain, { anchors: certStore.trustAnchors() });
      add('OK', 'certificate chain', `valid to trust anchor "${certificateInfo(anchor).subject}"`);
    } catch (err) {
      add('FAIL', 'certificate chain', describeError(err));
    }
    const days = Math.floor(info.daysToExpiry);
    if (days < 0) add('FAIL', 'certificate expiry', `expired on ${info.notAfter.toISOString()}`);
    else if (days < config.pki.renewBeforeDays) add('WARN', 'certificate expiry', `${days} days left: run "hedgerow certs renew"`);
    else add('OK', 'certificate expiry', `${days} days left (until ${info.notAfter.toISOString().slice(0, 10)})`);
  } catch (err) {
    add('FAIL', 'key', describeError(err));
  }

  // Clock.
  if (Date.now() < CLOCK_FLOOR) add('FAIL', 'clock', `system time ${new Date().toISOString()} is in the past: set the clock or enable NTP`);
  else if (fs.existsSync('/run/systemd/timesync/synchronized')) add('OK', 'clock', 'synchronised by systemd-timesyncd');
  else add('OK', 'clock', `${new Date().toISOString()} (plausible; synchronisation status unknown)`);

  // Ports: free, or held by this very node.
  const pub = config.publicApi;
  if (pub.port === 0) add('OK', 'public port', 'chosen at start (port 0)');
  else if ((await probePort(pub.host, pub.port)) === 'free') add('OK', 'public port', `${pub.host}:${pub.port} free`);
  else {
    const presented = await presentedFingerprint(pub.host, pub.port);
    if (presented && presented === fingerprint) add('OK', 'public port', `${pub.host}:${pub.port} served by this hedgerow`);
    else add('FAIL', 'public port', `${pub.host}:${pub.port} is in use by another program`);
  }
  const mgmt = config.managementApi;
  if (mgmt.port === 0) add('OK', 'management port', 'chosen at start (port 0)');
  else if ((await probePort(mgmt.host, mgmt.port)) === 'free') add('OK', 'management port', `${mgmt.host}:${mgmt.port} free`);
  else {
    let ours = false;
    try {
      const res = await fetch(`http://${mgmt.host}:${mgmt.port}/health/live`, { signal: AbortSignal.timeout(2000) });
      ours = res.ok && ((await res.json()) as { live?: unknown }).live === true;
    } catch {
      ours = false;
    }
    add(ours ? 'OK' : 'FAIL', 'management port', `${mgmt.host}:${mgmt.port} ${ours ? 'served by a running hedgerow' : 'is in use by another program'}`);
  }

  // Disk.
  const space = diskSpace(fs.existsSync(config.dataDir) ? config.dataDir : '.');
  const floor = config.health.diskFloorMb;
  if (!space) add('WARN', 'disk', 'free space unknown');
  else {
    const mb = Math.floor(space.free / 1048576);
    add(mb < floor ? 'FAIL' : 'OK', 'disk', `${mb} MB free in ${config.dataDir} (floor ${floor} MB)`);
  }
  return findings;
}

function print(findings: Finding[], io: CommandIo, json: boolean): void {
  if (json) io.out(JSON.stringify(findings, null, 2));
  else for (const f of findings) io.out(`${f.level.padEnd(5)} ${f.check.padEnd(19)} ${f.detail}`);
}

export const doctorCommand = defineCommand(
  {
    name: 'doctor',
    summary: 'self-check: configuration, database, certificates, clock, ports, disk (OK/WARN/FAIL per line)',
    description: 'Exits 0 when nothing FAILs, 1 otherwise. Read-only: never writes to the database or the certificates.',
    options: { json: { type: 'boolean' } },
    async run({ values }: { values: Values }, io) {
      let findings: Finding[];
      try {
        const loaded = configFrom(values, io);
        findings = await runChecks(loaded.config, loaded.file ? `default + ${loaded.file}` : 'defaults');
      } catch (err) {
        findings = [{ level: 'FAIL', check: 'configuration', detail: describeError(err) }];
      }
      print(findings, io, values.json === true);
      return findings.some((f) => f.level === 'FAIL') ? 1 : 0;
    },
  },
  { json: 'print the findings as JSON' },
);

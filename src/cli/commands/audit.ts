/**
 * `hedgerow audit verify` and `hedgerow audit export`: check the tamper-evident audit trail (locally, or an exported
 * bundle offline on another machine) and export a signed bundle of it. The audit modules are loaded inside run().
 */
import fs from 'node:fs';
import path from 'node:path';
import type { X509Certificate } from 'node:crypto';
import { configFrom, defineCommand, listOption, stringOption, type CommandIo, type Values } from '../command';
import { HedgerowError, UsageError } from '../../errors';
import type { HedgerowConfig } from '../../config/schema';
import type { AuditReport } from '../../audit/verify';

/* eslint-disable @typescript-eslint/no-require-imports */
const pki = () => require('../../pki') as typeof import('../../pki');

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new HedgerowError('FILE_UNREADABLE', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 66 });
  }
}

/** An ISO 8601 instant option, normalised (so it compares with the stored `at` as text). */
export function instantOption(values: Values, name: string): string | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an ISO 8601 date or instant, e.g. 2026-05-01 or 2026-05-01T12:00:00Z`);
  return new Date(t).toISOString();
}

/** Trust anchors from --trust-anchors DIR (every *.pem) and --anchor FILE (repeatable). */
function anchorsFromOptions(values: Values): { anchors: X509Certificate[]; from: string[] } {
  const { readCertificatesPem } = pki();
  const anchors: X509Certificate[] = [];
  const from: string[] = [];
  const dir = stringOption(values, 'trust-anchors');
  if (dir) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.pem') || n.endsWith('.crt')).sort();
    } catch (err) {
      throw new HedgerowError('FILE_UNREADABLE', `cannot read the trust anchor directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 66 });
    }
    for (const n of names) anchors.push(...readCertificatesPem(readText(path.join(dir, n), 'trust anchor')));
    from.push(`${names.length} file(s) in ${dir}`);
  }
  for (const file of listOption(values, 'anchor')) {
    anchors.push(...readCertificatesPem(readText(file, 'trust anchor')));
    from.push(file);
  }
  return { anchors, from };
}

/** The connector's chain (leaf first) without touching the private key, or null. */
function connectorChain(config: HedgerowConfig): X509Certificate[] | null {
  const { CertStore, readCertificatesPem } = pki();
  const file = new CertStore(config.certsDir).chainFile;
  if (!fs.existsSync(file)) return null;
  return readCertificatesPem(readText(file, 'connector certificate chain'));
}

function printReport(report: AuditReport, io: CommandIo, extra: string[]): void {
  const range = report.firstSeq === null ? 'no entries' : `${report.entries} entries (seq ${report.firstSeq}..${report.lastSeq}), head ${report.headHash}`;
  io.out(`audit trail${report.source === 'bundle' ? ' bundle' : ''}${report.participantId ? ` of ${report.participantId}` : ''}: ${range}`);
  for (const line of extra) io.out(line);
  const chainBreak = report.problems.find((p) => ['seq-gap', 'prev-hash-mismatch', 'hash-mismatch', 'malformed'].includes(p.kind));
  io.out(chainBreak ? `chain: BROKEN at seq ${chainBreak.seq}: ${chainBreak.kind}: ${chainBreak.message}` : 'chain: OK (every hash recomputed)');
  const s = report.signedHeads;
  io.out(`signed heads: ${s.checked} checked, ${s.valid} valid${s.lastSignedSeq !== null ? `, last signed seq ${s.lastSignedSeq}` : ''}`);
  if (report.signer) {
    io.out(`signer: ${report.signer.participantId ?? '(no participant id)'} (${report.signer.subject}, SHA-256 ${report.signer.fingerprint})${report.signer.anchor ? `, chain valid to ${report.signer.anchor}` : ''}`);
  }
  for (const w of report.warnings) io.out(`warning: ${w}`);
  if (report.firstBroken) io.out(`FIRST BROKEN: seq ${report.firstBroken.seq ?? '-'}: ${report.firstBroken.kind}: ${report.firstBroken.message}`);
  for (const p of report.problems.slice(1, 10)) io.out(`also: seq ${p.seq ?? '-'}: ${p.kind}: ${p.message}`);
  io.out(!report.ok ? 'RESULT: FAIL' : signerUnanchored(report) ? 'RESULT: PASS, BUT THE SIGNER IS NOT ANCHORED (compare its fingerprint out of band)' : 'RESULT: PASS');
}

/** Intact and validly signed, but by a certificate no trust anchor vouches for: anyone could have made it. */
function signerUnanchored(report: AuditReport): boolean {
  return report.signedHeads.checked > 0 && report.anchored === null;
}

/** Exit code of `audit verify` when the trail is intact but its signer is not anchored (scripts must not take it for 0). */
export const EXIT_SIGNER_UNANCHORED = 3;

export const auditVerifyCommand = defineCommand(
  {
    name: 'audit verify',
    summary: 'recompute the audit hash chain and check every signed head; names the first broken entry',
    description:
      'Without --bundle: the local database (opened read-only, the connector may be running); heads are checked against\n' +
      "the connector's certificate and trust anchors. With --bundle FILE: an exported bundle, offline, no database needed;\n" +
      'its signer chain is validated against --trust-anchors DIR / --anchor FILE (else the local trust anchors, if any).\n' +
      'Exit code 0 only if everything checks out; 1 if something is broken; 3 if the trail is intact but no trust anchor\n' +
      'vouches for its signer (compare the printed fingerprint out of band, or pass an anchor).',
    options: { bundle: { type: 'string' }, json: { type: 'boolean' }, 'trust-anchors': { type: 'string' }, anchor: { type: 'string', multiple: true } },
    async run({ values }, io) {
      const { verifyBundle, verifyDatabase } = require('../../audit/verify') as typeof import('../../audit/verify');
      const bundleFile = stringOption(values, 'bundle');
      const given = anchorsFromOptions(values);
      let report: AuditReport;
      const extra: string[] = [];
      if (bundleFile) {
        let bundle: unknown;
        try {
          bundle = JSON.parse(readText(bundleFile, 'audit bundle'));
        } catch (err) {
          if (err instanceof HedgerowError) throw err;
          throw new HedgerowError('INPUT_INVALID', `the audit bundle ${bundleFile} is not JSON`, { exitCode: 65 });
        }
        let anchors: X509Certificate[] | null = given.anchors.length ? given.anchors : null;
        if (anchors) extra.push(`trust anchors: ${given.from.join(', ')}`);
        else {
          // Another hedgerow node of the same dataspace trusts the same CA: use its anchors when there are some.
          try {
            const { config } = configFrom(values, io);
            const local = new (pki().CertStore)(config.certsDir).trustAnchors();
            if (local.length) {
              anchors = local;
              extra.push(`trust anchors: the local connector's (${config.certsDir})`);
            }
          } catch {
            anchors = null;
          }
        }
        report = await verifyBundle(bundle, { anchors });
      } else {
        const { config } = configFrom(values, io);
        const { Store } = require('../../store/store') as typeof import('../../store/store');
        const chain = connectorChain(config);
        const localAnchors = new (pki().CertStore)(config.certsDir).trustAnchors();
        // The connector's own certificate is pinned: heads it signed verify even without a CA in the trust directory.
        const anchors = given.anchors.length ? given.anchors : localAnchors;
        const participantId = chain ? pki().certificateInfo(chain[0]!).participantId : null;
        const store = Store.open(config.dataDir, { readonly: true, busyTimeoutMs: config.database.busyTimeoutMs });
        try {
          if (!store.audit.available()) throw new HedgerowError('AUDIT_UNAVAILABLE', 'this database has no audit trail yet (schema older than version 4): run "hedgerow migrate"', { exitCode: 1 });
          report = await verifyDatabase(store.audit, { anchors: anchors.length ? anchors : null, pinned: chain ? [chain[0]!] : [], participantId });
        } finally {
          store.close();
        }
      }
      if (values.json) io.out(JSON.stringify(report, null, 2));
      else printReport(report, io, extra);
      if (!report.ok) return 1;
      return signerUnanchored(report) ? EXIT_SIGNER_UNANCHORED : 0;
    },
  },
  {
    bundle: 'verify an exported bundle (offline) instead of the local database',
    json: 'print the full report as JSON',
    'trust-anchors': 'directory of PEM trust anchors for the signer chain',
    anchor: 'a PEM trust anchor file (repeatable)',
  },
);

/** The connector identity as `hedgerow start` computes it (participant id, DID, key, chain). */
function localIdentity(config: HedgerowConfig) {
  const { CertStore, certificateInfo } = pki();
  const { loadConnectorIdentity } = require('../../identity/identity') as typeof import('../../identity/identity');
  const keyAndChain = new CertStore(config.certsDir).loadIdentity();
  const host = certificateInfo(keyAndChain.chain[0]!).hostnames[0] ?? 'localhost';
  const port = config.publicApi.port;
  const publicUrl = config.publicApi.baseUrl?.replace(/\/+$/, '') ?? `https://${host.includes(':') ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}`;
  return loadConnectorIdentity(keyAndChain, publicUrl);
}

export const auditExportCommand = defineCommand(
  {
    name: 'audit export',
    summary: 'write a signed JSON bundle of the audit trail that "hedgerow audit verify --bundle" checks offline',
    description:
      'The bundle holds the contiguous range of entries from the first to the last one matching the filters (entries of\n' +
      'other processes inside that range are included: the chain needs them), a head signed now with the connector key\n' +
      'over the last entry, the signatures stored inside the range and the certificate chain (PEM).',
    options: { from: { type: 'string' }, to: { type: 'string' }, process: { type: 'string' }, out: { type: 'string' } },
    async run({ values }, io) {
      const out = stringOption(values, 'out');
      if (!out) throw new UsageError('--out FILE is required (see "hedgerow audit export --help")');
      const from = instantOption(values, 'from');
      const to = instantOption(values, 'to');
      const processId = stringOption(values, 'process');
      if (from && to && from > to) throw new UsageError('--from is after --to');
      const { config } = configFrom(values, io);
      const { Store } = require('../../store/store') as typeof import('../../store/store');
      const { AuditTrail } = require('../../audit/audit-trail') as typeof import('../../audit/audit-trail');
      const { signingKeyOf } = require('../../audit/head-signature') as typeof import('../../audit/head-signature');
      const identity = localIdentity(config);
      const store = Store.open(config.dataDir, { busyTimeoutMs: config.database.busyTimeoutMs });
      try {
        const trail = new AuditTrail({ store, self: () => identity.participantId, signingKey: () => signingKeyOf(identity) });
        const bundle = await trail.exportBundle({ ...(from ? { from } : {}), ...(to ? { to } : {}), ...(processId ? { processId } : {}) });
        const tmp = `${out}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify(bundle, null, 2) + '\n');
        fs.renameSync(tmp, out);
        const firstSeq = bundle.entries[0]!.seq;
        io.out(
          `wrote ${out}: ${bundle.entries.length} entries (seq ${firstSeq}..${bundle.head.seq}, ${bundle.selection.matched} matching), head signed at seq ${bundle.head.seq} (hash ${bundle.head.hash})`,
        );
        return 0;
      } finally {
        store.close();
      }
    },
  },
  {
    from: 'first instant (ISO 8601, inclusive)',
    to: 'last instant (ISO 8601, inclusive)',
    process: 'only entries of this negotiation, transfer or agreement id (plus those between them)',
    out: 'the bundle file to write (required)',
  },
);

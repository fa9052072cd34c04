/**
 * `hedgerow sd create` and `hedgerow sd verify`: the Gaia-X self-description producer and the certifier's verifier.
 * Everything Gaia-X is loaded inside run(), so other commands and `hedgerow start` never load it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { configFrom, defineCommand, listOption, stringOption, type Values } from '../command';
import { HedgerowError, UsageError } from '../../errors';
import type { HedgerowConfig } from '../../config/schema';

/* eslint-disable @typescript-eslint/no-require-imports */
const gaiax = () => require('../../gaiax/service') as typeof import('../../gaiax/service');

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new HedgerowError('FILE_UNREADABLE', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 66 });
  }
}

/** The connector identity, its DID document and public base URL, as `hedgerow start` computes them. */
async function localIdentity(config: HedgerowConfig) {
  const { CertStore, certificateInfo } = require('../../pki') as typeof import('../../pki');
  const { loadConnectorIdentity } = require('../../identity/identity') as typeof import('../../identity/identity');
  const { buildDidDocument, CERTIFICATE_CHAIN_PATH } = require('../../identity/did') as typeof import('../../identity/did');
  const certStore = new CertStore(config.certsDir);
  const keyAndChain = certStore.loadIdentity();
  const host = certificateInfo(keyAndChain.chain[0]!).hostnames[0] ?? 'localhost';
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const port = config.publicApi.port;
  const publicUrl = config.publicApi.baseUrl?.replace(/\/+$/, '') ?? `https://${hostForUrl}${port === 443 ? '' : `:${port}`}`;
  const identity = loadConnectorIdentity(keyAndChain, publicUrl);
  const didDocument = await buildDidDocument({
    did: identity.did,
    publicKey: identity.publicKey,
    chain: identity.chain,
    chainUrl: new URL(CERTIFICATE_CHAIN_PATH, publicUrl).toString(),
  });
  return { certStore, identity, didDocument, publicUrl };
}

function formatOption(values: Values): 'loire' | '22.10' | undefined {
  const f = stringOption(values, 'format');
  if (f === undefined) return undefined;
  if (f === 'loire' || f === '22.10') return f;
  if (f === '2210') return '22.10';
  throw new UsageError('--format must be loire or 22.10');
}

export const sdCreateCommand = defineCommand(
  {
    name: 'sd create',
    summary: 'build and sign the Gaia-X self-description of this connector (configuration + public catalog)',
    description:
      'Loire (default): VC-JWTs bundled in a VP-JWT. 22.10: JSON-LD credentials with JsonWebSignature2020 proofs.\n' +
      'Without --out the presentation is printed; with --out DIR the presentation and every credential are written\n' +
      'there. A running connector serves the same at /gaiax/self-description (re-signed when the catalog changes).',
    options: { format: { type: 'string' }, out: { type: 'string' }, flavour: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values }, io) {
      const { config } = configFrom(values, io);
      const flavour = stringOption(values, 'flavour');
      if (flavour !== undefined && flavour !== 'gaia-x' && flavour !== 'specification') throw new UsageError('--flavour must be gaia-x or specification');
      const format = formatOption(values);
      const { identity, didDocument, publicUrl } = await localIdentity(config);
      const { Store } = require('../../store/store') as typeof import('../../store/store');
      const { CatalogService } = require('../../catalog/catalog-service') as typeof import('../../catalog/catalog-service');
      const { DSP_BASE_PATH } = require('../../protocol/dsp/paths') as typeof import('../../protocol/dsp/paths');
      const store = Store.open(config.dataDir, { busyTimeoutMs: config.database.busyTimeoutMs });
      try {
        const catalog = new CatalogService({ store, participantId: () => identity.participantId, dspBaseUrl: () => `${publicUrl}${DSP_BASE_PATH}`, pageSize: config.dsp.catalogPageSize });
        const sd = await gaiax().buildSelfDescription(
          { config, catalog, identity: () => identity, didDocument: async () => didDocument, publicUrl },
          { ...(format ? { format } : {}), ...(flavour ? { flavour: flavour as 'gaia-x' | 'specification' } : {}) },
        );
        for (const w of sd.warnings) io.err(`warning: ${w}`);
        const out = stringOption(values, 'out');
        if (!out) {
          io.out(values.json ? JSON.stringify(sd, null, 2) : sd.presentation.body);
          return 0;
        }
        fs.mkdirSync(path.join(out, 'credentials'), { recursive: true });
        const ext = (ct: string) => (ct.includes('jwt') ? 'jwt' : 'json');
        const vpFile = path.join(out, `self-description.${ext(sd.presentation.contentType)}`);
        fs.writeFileSync(vpFile, sd.presentation.body);
        for (const c of sd.credentials) fs.writeFileSync(path.join(out, 'credentials', `${c.name}.${ext(c.contentType)}`), c.body);
        io.out(`wrote ${vpFile} (${sd.format}, ${sd.credentials.length} credentials, valid until ${sd.validUntil}) for ${identity.did}`);
        return 0;
      } finally {
        store.close();
      }
    },
  },
  {
    format: 'loire (default: gaiax.format) or 22.10',
    out: 'write the presentation and each credential into DIR',
    flavour: '22.10 proofs: gaia-x (default) or specification',
    json: 'print the presentation, every credential and warnings as JSON',
  },
);

export const sdVerifyCommand = defineCommand(
  {
    name: 'sd verify',
    summary: 'verify a Gaia-X self-description as a certifier: eight checks, each PASS or FAIL with the reason',
    args: '<file|url>',
    positionals: [1, 1],
    description:
      'Checks: format, did:web resolution, key under assertionMethod, certificate chain to a trust anchor, signature,\n' +
      'validity dates, SHACL shapes (25.11 or 22.10, offline), cross-credential rules. Exit code 0 only if all pass.\n' +
      'Trust anchors: --trust-anchors DIR, else gaiax.trustAnchorsDir, else the connector trust anchors.\n' +
      'Fetched DID documents and chains are kept in <dataDir>/gaiax-cache for later --offline runs.',
    options: {
      'trust-anchors': { type: 'string' },
      'did-doc': { type: 'string', multiple: true },
      chain: { type: 'string', multiple: true },
      'trusted-notary': { type: 'string', multiple: true },
      offline: { type: 'boolean' },
      json: { type: 'boolean' },
      result: { type: 'string' },
    },
    async run({ values, positionals }, io) {
      const { config } = configFrom(values, io);
      const { CertStore, readCertificatesPem } = require('../../pki') as typeof import('../../pki');
      const certStore = new CertStore(config.certsDir);
      const didDocuments = listOption(values, 'did-doc').map((file) => {
        try {
          return JSON.parse(readText(file, 'DID document')) as Record<string, unknown>;
        } catch (err) {
          if (err instanceof HedgerowError) throw err;
          throw new HedgerowError('INPUT_INVALID', `the DID document ${file} is not JSON`, { exitCode: 65 });
        }
      });
      const chains = listOption(values, 'chain').map((file) => readCertificatesPem(readText(file, 'certificate chain')));
      const target = positionals[0]!;
      const extraCa = certStore.trustAnchors().map((c) => c.toString());
      let input: string;
      if (/^https:\/\//i.test(target)) {
        const { DidResolver } = require('../../gaiax/did-resolver') as typeof import('../../gaiax/did-resolver');
        const fetcher = new DidResolver({ extraCa });
        try {
          input = await fetcher.fetchText(target);
        } catch (err) {
          throw new HedgerowError('FETCH_FAILED', `cannot fetch ${target}: ${(err as Error).message}`, { exitCode: 1 });
        } finally {
          await fetcher.close();
        }
      } else if (/^[a-z]+:\/\//i.test(target)) {
        throw new UsageError('only https URLs or files can be verified');
      } else input = readText(target, 'self-description');

      const resultFile = stringOption(values, 'result');
      let resultSigner;
      if (resultFile) {
        const { identity, didDocument } = await localIdentity(config);
        resultSigner = await gaiax().resultSignerFor(identity, didDocument, config.gaiax.validityDays);
      }
      const anchorsDir = stringOption(values, 'trust-anchors');
      const report = await gaiax().verifyWithConfig(
        { config, certStore },
        {
          input,
          didDocuments,
          chains,
          offline: values.offline === true,
          extraTrustedNotaries: listOption(values, 'trusted-notary'),
          extraCa,
          ...(anchorsDir ? { anchorsDir } : {}),
          ...(resultSigner ? { resultSigner } : {}),
        },
      );
      if (resultFile && report.resultCredential) fs.writeFileSync(resultFile, report.resultCredential);
      if (values.json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(`format: ${report.format}`);
        for (const s of report.steps) io.out(`${s.status}  ${s.step} ${s.title}: ${s.reason}`);
        for (const w of report.warnings) io.out(`warning: ${w}`);
        io.out(report.ok ? 'RESULT: PASS' : 'RESULT: FAIL');
        if (resultFile) io.out(report.resultCredential ? `wrote the result credential to ${resultFile}` : 'no result credential: not every check passed');
      }
      return report.ok ? 0 : 1;
    },
  },
  {
    'trust-anchors': 'directory of PEM trust anchors (eIDAS, EV or dataspace roots)',
    'did-doc': 'a DID document file to use instead of resolving did:web (repeatable)',
    chain: 'a PEM certificate chain file, leaf first, to use instead of x5u (repeatable)',
    'trusted-notary': 'DID of a trusted notary in addition to gaiax.trustedNotaries (repeatable)',
    offline: 'never fetch: DID documents and chains from files and the offline cache only',
    json: 'print the full report as JSON',
    result: 'when every check passes, write a result credential (VC-JWT signed with this connector key) to FILE',
  },
);

/**
 * The configuration schema: types, bounds and one line of documentation per key. Defaults live in
 * config/default.json (one place); the README's configuration table is generated from both
 * (`hedgerow config --reference`) and a test keeps them in sync.
 */
export interface HedgerowConfig {
  dataDir: string;
  certsDir: string;
  publicApi: {
    host: string;
    port: number;
    baseUrl: string | null;
    requestClientCertificate: boolean;
    minTlsVersion: 'TLSv1.2' | 'TLSv1.3';
  };
  managementApi: { host: string; port: number };
  database: { busyTimeoutMs: number };
  health: { refreshSeconds: number; diskFloorMb: number };
  pki: { certificateValidityDays: number; caValidityDays: number; renewBeforeDays: number };
  log: { level: 'debug' | 'info' | 'warn' | 'error'; format: 'auto' | 'json' | 'pretty' };
  shutdown: { graceSeconds: number };
  dsp: {
    catalogPageSize: number;
    allowedAddresses: string[];
    staticTokens: Record<string, string>;
    outbox: { retryInitialMs: number; retryMaxSeconds: number; giveUpHours: number };
    limits: { openProcessesPerPeer: number };
  };
  conformance: { enabled: boolean };
  dataplane: { root: string; tokenLifetimeSeconds: number; bandwidthBytesPerSecond: number; downloadDir: string };
  usage: { monitorSeconds: number };
  audit: { signIntervalMinutes: number };
  gaiax: {
    format: 'loire' | '22.10';
    legalName: string | null;
    registrationNumber: { type: 'vatID' | 'leiCode' | 'EORI' | 'EUID' | 'taxID' | 'local'; value: string | null; credential: string | null };
    legalAddress: GaiaxAddress;
    headquartersAddress: GaiaxAddress;
    serviceTerms: { url: string | null; hash: string | null };
    containsPII: boolean;
    validityDays: number;
    trustedNotaries: string[];
    trustedIssuers: string[];
    trustAnchorsDir: string | null;
    shapesIdleSeconds: number;
  };
}

export interface GaiaxAddress {
  countrySubdivisionCode: string | null;
  streetAddress: string | null;
  postalCode: string | null;
  locality: string | null;
}

type Leaf = { description: string; [k: string]: unknown };
const obj = (properties: Record<string, object>) => ({
  type: 'object',
  additionalProperties: false,
  required: Object.keys(properties),
  properties,
});
const port = (description: string): Leaf => ({ type: 'integer', minimum: 0, maximum: 65535, description });
const positiveInt = (description: string, maximum = 2 ** 31 - 1): Leaf => ({ type: 'integer', minimum: 1, maximum, description });

const nullableString = (description: string): Leaf => ({ type: ['string', 'null'], minLength: 1, description });
const gaiaxAddress = (what: string) =>
  obj({
    countrySubdivisionCode: {
      type: ['string', 'null'],
      pattern: '^[A-Z]{2}-[A-Z0-9]{1,3}$',
      description: `${what}: ISO 3166-2 country subdivision code, e.g. DE-BY.`,
    },
    streetAddress: nullableString(`${what}: street and number.`),
    postalCode: nullableString(`${what}: postal code.`),
    locality: nullableString(`${what}: city or town.`),
  });

export const configSchema = obj({
  dataDir: { type: 'string', minLength: 1, description: 'Directory for the SQLite database and other state.' },
  certsDir: {
    type: 'string',
    minLength: 1,
    description: 'Directory for the connector key (0600), certificate chain, trust anchors and the development CA.',
  },
  publicApi: obj({
    host: { type: 'string', minLength: 1, description: 'Address the public HTTPS listener (DSP, DID document) binds to.' },
    port: port('Port of the public HTTPS listener (0 picks a free port).'),
    baseUrl: {
      type: ['string', 'null'],
      pattern: '^https://[^\\s/]+(/[^\\s]*)?$',
      description: 'URL peers use to reach the public listener; default https://<first certificate hostname>:<port>.',
    },
    requestClientCertificate: { type: 'boolean', description: 'Ask peers for a TLS client certificate (optional, never required).' },
    minTlsVersion: { enum: ['TLSv1.2', 'TLSv1.3'], description: 'Lowest TLS version accepted on the public listener.' },
  }),
  managementApi: obj({
    host: { type: 'string', minLength: 1, description: 'Address of the management listener; keep it on loopback.' },
    port: port('Port of the management listener (0 picks a free port).'),
  }),
  database: obj({
    busyTimeoutMs: positiveInt('How long a write waits for a competing writer before failing.', 600_000),
  }),
  health: obj({
    refreshSeconds: positiveInt('Interval of the background device-health refresh (CPU, memory, disk, temperature).', 86_400),
    diskFloorMb: { type: 'integer', minimum: 0, description: 'Free space of the data directory below which readiness reports degraded.' },
  }),
  pki: obj({
    certificateValidityDays: positiveInt('Validity of connector certificates issued by init, renew and ca issue.', 3650),
    caValidityDays: positiveInt('Validity of a CA created by init or ca init.', 36500),
    renewBeforeDays: positiveInt('Days before expiry at which doctor warns and renewal is due.', 3650),
  }),
  log: obj({
    level: { enum: ['debug', 'info', 'warn', 'error'], description: 'Lowest log level written.' },
    format: { enum: ['auto', 'json', 'pretty'], description: 'JSON lines, human-readable, or auto (pretty on a terminal).' },
  }),
  shutdown: obj({
    graceSeconds: positiveInt('On SIGTERM/SIGINT, time in-flight requests get to finish before connections are cut.', 3600),
  }),
  dsp: obj({
    catalogPageSize: positiveInt('Datasets per catalog page (RFC 5988 Link headers lead to the next page).', 500),
    allowedAddresses: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description:
        'Hosts, IPs or CIDRs that peers may name as callback or data addresses although they are loopback or link-local (SSRF guard).',
    },
    staticTokens: {
      type: 'object',
      additionalProperties: { type: 'string', minLength: 1 },
      description: 'Fixed Authorization values mapped to participant ids, for conformance testing only; refused when NODE_ENV=production.',
    },
    outbox: obj({
      retryInitialMs: positiveInt('First retry delay of an undelivered protocol message (doubles each time, with jitter).', 600_000),
      retryMaxSeconds: positiveInt('Longest delay between two delivery attempts.', 86_400),
      giveUpHours: positiveInt('How long a message is retried before the process is ended (farm links can be down for hours).', 8760),
    }),
    limits: obj({
      openProcessesPerPeer: {
        type: 'integer',
        minimum: 0,
        maximum: 1_000_000,
        description:
          'Most non-terminal negotiations and transfers (together, both roles) one peer may have with this connector; a request creating one more gets HTTP 429 (0: no limit).',
      },
    }),
  }),
  dataplane: obj({
    root: { type: 'string', minLength: 1, description: 'Root directory of file assets: asset paths are relative to it and nothing outside it is ever served.' },
    tokenLifetimeSeconds: positiveInt('Lifetime of pull tokens; consumers refresh them while the transfer is STARTED.', 86_400),
    bandwidthBytesPerSecond: { type: 'integer', minimum: 0, description: 'Cap per transfer on data served or pushed, in bytes per second (0: none).' },
    downloadDir: { type: 'string', minLength: 1, description: 'Where the management API download endpoint writes pulled data (consumer side).' },
  }),
  usage: obj({
    monitorSeconds: positiveInt('How often running transfers are re-checked against their agreement (time windows, consent); reads only.', 86_400),
  }),
  audit: obj({
    signIntervalMinutes: {
      type: 'integer',
      minimum: 0,
      maximum: 10_080,
      description: 'How often the audit chain head is signed with the connector key, only if entries were added since the last signature (0: only on export and at stop).',
    },
  }),
  conformance: obj({
    enabled: {
      type: 'boolean',
      description:
        'DSP TCK profile: seeded ids, scripted behaviour, /conformance initiate endpoints, plain-http peers. Refused when NODE_ENV=production.',
    },
  }),
  gaiax: obj({
    format: { enum: ['loire', '22.10'], description: 'Gaia-X self-description format: Loire VC-JWTs in a VP-JWT, or 22.10 JSON-LD with JsonWebSignature2020 proofs.' },
    legalName: nullableString('Legal name of the participant in its self-description.'),
    registrationNumber: obj({
      type: { enum: ['vatID', 'leiCode', 'EORI', 'EUID', 'taxID', 'local'], description: 'Kind of the registration number.' },
      value: { type: ['string', 'null'], minLength: 3, description: 'The registration number (e.g. DE123456789).' },
      credential: nullableString('File with the notary-issued registration-number credential (VC-JWT or 22.10 JSON); without it a self-issued one is used.'),
    }),
    legalAddress: gaiaxAddress('Legal address'),
    headquartersAddress: gaiaxAddress('Headquarters address (all null: the legal address)'),
    serviceTerms: obj({
      url: { type: ['string', 'null'], pattern: '^https?://', description: "URL of the terms and conditions of the connector's service offering." },
      hash: { type: ['string', 'null'], pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 (hex) of the document at serviceTerms.url.' },
    }),
    containsPII: { type: 'boolean', description: 'Whether the published datasets contain personal data (gx:containsPII).' },
    validityDays: positiveInt('Validity of the credentials of the self-description.', 3650),
    trustedNotaries: {
      type: 'array',
      items: { type: 'string', pattern: '^did:' },
      description: 'DIDs of notaries whose registration-number credentials the verifier accepts.',
    },
    trustedIssuers: {
      type: 'array',
      items: { type: 'string', pattern: '^did:' },
      description: 'DIDs of issuers the verifier accepts without their own Gaia-X terms-and-conditions credential (e.g. a compliance service).',
    },
    trustAnchorsDir: nullableString("Directory of PEM trust anchors for verifying self-descriptions (eIDAS/EV roots); default the connector's trust anchors."),
    shapesIdleSeconds: positiveInt('How long the SHACL worker keeps the parsed shapes after its last validation.', 86_400),
  }),
});

export interface ConfigKey {
  /** Dotted path, e.g. `publicApi.port`. */
  path: string;
  /** Environment variable overriding it, e.g. `HEDGEROW_PUBLIC_API_PORT`. */
  env: string;
  schema: Leaf;
}

const toEnvSegment = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** Every leaf key of the schema with its environment variable name. */
export function configKeys(schema: { properties?: Record<string, unknown> } = configSchema, prefix: string[] = []): ConfigKey[] {
  const keys: ConfigKey[] = [];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const path = [...prefix, name];
    const s = sub as { type?: unknown; properties?: Record<string, unknown> };
    if (s.type === 'object' && s.properties) keys.push(...configKeys(s, path));
    else keys.push({ path: path.join('.'), env: 'HEDGEROW_' + path.map(toEnvSegment).join('_'), schema: sub as Leaf });
  }
  return keys;
}

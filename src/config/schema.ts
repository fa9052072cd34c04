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
  };
  conformance: { enabled: boolean };
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
  }),
  conformance: obj({
    enabled: {
      type: 'boolean',
      description:
        'DSP TCK profile: seeded ids, scripted behaviour, /conformance initiate endpoints, plain-http peers. Refused when NODE_ENV=production.',
    },
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

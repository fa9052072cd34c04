import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors';
import { configKeys, type ConfigKey, type HedgerowConfig } from './schema';
import { configValidator } from './validate';

/** The package root (holds config/default.json), found upwards from src/ (ts-jest), dist/ or .bench/. */
function findPackageRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'config', 'default.json')) && fs.existsSync(path.join(d, 'package.json'))) return d;
  }
  return path.resolve(__dirname, '..', '..');
}

export const PACKAGE_ROOT = findPackageRoot(__dirname);
export const DEFAULT_CONFIG_FILE = path.join(PACKAGE_ROOT, 'config', 'default.json');

/** HEDGEROW_* variables that are not configuration keys. */
const NON_KEY_ENV = new Set(['HEDGEROW_CONFIG', 'HEDGEROW_API_KEY', 'HEDGEROW_MANAGEMENT_URL', 'HEDGEROW_P12_PASSWORD', 'HEDGEROW_BACKUP_PASSPHRASE']);

export interface LoadOptions {
  /** Local override file (`--config`); falls back to HEDGEROW_CONFIG. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Overrides from command-line flags, applied last (e.g. `--data-dir`). */
  overrides?: Record<string, unknown>;
}

export interface LoadedConfig {
  config: HedgerowConfig;
  /** Where each key's value came from, for `doctor` and error messages. */
  sources: Record<string, string>;
  file: string | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function readJsonFile(file: string, what: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${what} ${file} cannot be read${code === 'ENOENT' ? ': no such file' : `: ${code}`}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${what} ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new ConfigError(`${what} ${file} must contain a JSON object`);
  return parsed;
}

function setPath(target: Json, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (!isObject(node[p])) node[p] = {};
    node = node[p] as Json;
  }
  node[parts[parts.length - 1]!] = value;
}

/** Keys that would reach a prototype when assigned or merged into (JSON.parse makes "__proto__" an own key). */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deep merge of `over` into `base`, recording the source of every leaf it sets. */
function merge(base: Json, over: Json, source: string, sources: Record<string, string>, prefix = ''): void {
  for (const [k, v] of Object.entries(over)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (PROTOTYPE_KEYS.has(k)) throw new ConfigError(`unknown configuration key ${key} (in ${source})`, { key });
    if (isObject(v) && isObject(base[k])) merge(base[k] as Json, v, source, sources, key);
    else {
      base[k] = v;
      sources[key] = source;
    }
  }
}

/** Parse an environment string into the type the schema wants for that key. */
function coerceEnv(key: ConfigKey, raw: string): unknown {
  const types = ([] as unknown[]).concat(key.schema.type ?? (key.schema.enum ? 'string' : []));
  if (types.includes('null') && (raw === '' || raw === 'null')) return null;
  if (types.includes('integer') || types.includes('number')) {
    if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) throw new ConfigError(`${key.env}=${JSON.stringify(raw)}: ${key.path} must be a number`);
    return Number(raw);
  }
  if (types.includes('boolean')) {
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    throw new ConfigError(`${key.env}=${JSON.stringify(raw)}: ${key.path} must be true or false`);
  }
  if (types.includes('array')) {
    if (!raw.trim().startsWith('[')) return raw.split(',').map((s) => s.trim()).filter(Boolean);
    try {
      return JSON.parse(raw);
    } catch (err) {
      throw new ConfigError(`${key.env}=${JSON.stringify(raw)}: ${key.path} is not a valid JSON array (${(err as Error).message})`);
    }
  }
  return raw;
}

/**
 * Load configuration: defaults, then the local file, then HEDGEROW_* variables, then flag overrides.
 * Throws a ConfigError naming the first offending key (and where its value came from).
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const sources: Record<string, string> = {};
  const merged = readJsonFile(DEFAULT_CONFIG_FILE, 'default configuration');
  for (const k of configKeys()) sources[k.path] = 'default';

  const file = opts.file ?? env.HEDGEROW_CONFIG ?? null;
  if (file) merge(merged, readJsonFile(file, 'configuration file'), path.basename(file), sources);

  const known = new Map(configKeys().map((k) => [k.env, k]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('HEDGEROW_') || raw === undefined || NON_KEY_ENV.has(name)) continue;
    const key = known.get(name);
    if (!key) throw new ConfigError(`unknown environment variable ${name}: no configuration key maps to it`);
    setPath(merged, key.path, coerceEnv(key, raw));
    sources[key.path] = name;
  }
  for (const [dotted, value] of Object.entries(opts.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(merged, dotted, value);
    sources[dotted] = 'command line';
  }

  const validator = configValidator();
  if (!validator(merged)) {
    const e = validator.errors![0]!;
    const at = e.instancePath.slice(1).replace(/\//g, '.');
    if (e.keyword === 'additionalProperties') {
      const unknown = at ? `${at}.${e.params.additionalProperty}` : String(e.params.additionalProperty);
      throw new ConfigError(`unknown configuration key ${unknown}${sources[unknown] ? '' : file ? ` (in ${file})` : ''}`, { key: unknown });
    }
    if (e.keyword === 'required') {
      const missing = at ? `${at}.${e.params.missingProperty}` : String(e.params.missingProperty);
      throw new ConfigError(`configuration key ${missing} is missing`, { key: missing });
    }
    const allowed = e.keyword === 'enum' ? ` (one of ${(e.params.allowedValues as unknown[]).join(', ')})` : '';
    throw new ConfigError(`configuration key ${at} ${e.message}${allowed}; value from ${sources[at] ?? 'configuration'}`, { key: at });
  }
  return { config: merged as unknown as HedgerowConfig, sources, file };
}

/** Markdown table of every key: env var, default, meaning. Used for the README. */
export function configReference(): string {
  const defaults = readJsonFile(DEFAULT_CONFIG_FILE, 'default configuration');
  const get = (dotted: string) => dotted.split('.').reduce<unknown>((n, p) => (isObject(n) ? n[p] : undefined), defaults);
  const rows = configKeys().map(
    (k) => `| \`${k.path}\` | \`${k.env}\` | \`${JSON.stringify(get(k.path))}\` | ${k.schema.description} |`,
  );
  return ['| Key | Environment variable | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

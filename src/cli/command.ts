import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors';
import { loadConfig, type LoadedConfig } from '../config/load';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  isTty: boolean;
}

export interface Command {
  /** Full command name, e.g. `certs status`. */
  name: string;
  summary: string;
  /** Positional arguments shown in the usage line, e.g. `<file>`. */
  args?: string;
  /** Extra lines of help after the option list. */
  description?: string;
  options?: Options;
  /** Number of positional arguments accepted: [min, max]. */
  positionals?: [number, number];
  run(input: { values: Values; positionals: string[] }, io: CommandIo): Promise<number | void>;
}

/** Options every command understands. */
export const GLOBAL_OPTIONS: Options = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'certs-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP = [
  ['--config FILE', 'local configuration file (overrides config/default.json; also HEDGEROW_CONFIG)'],
  ['--data-dir DIR', 'data directory (overrides dataDir)'],
  ['--certs-dir DIR', 'certificates directory (overrides certsDir)'],
  ['-h, --help', 'show this help'],
].map(([flag, doc]) => `  ${flag!.padEnd(30)} ${doc}`);

/** Documentation for each command option, keyed by option name. */
export type OptionHelp = Record<string, string>;
const optionHelp = new WeakMap<Command, OptionHelp>();

export function defineCommand(cmd: Command, help: OptionHelp = {}): Command {
  optionHelp.set(cmd, help);
  return cmd;
}

export function helpText(cmd: Command): string {
  const docs = optionHelp.get(cmd) ?? {};
  const lines = [`usage: hedgerow ${cmd.name}${cmd.options && Object.keys(cmd.options).length ? ' [options]' : ''}${cmd.args ? ' ' + cmd.args : ''}`, '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description);
  const own = Object.entries(cmd.options ?? {}).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' ' + name.toUpperCase().replace(/-/g, '_') : ''}`;
    return `  ${flag.padEnd(30)} ${docs[name] ?? ''}`;
  });
  lines.push('', 'options:', ...own, ...GLOBAL_HELP);
  return lines.join('\n');
}

export function parseCommandArgs(cmd: Command, argv: string[]): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages are long and mention parseArgs internals; keep the useful part.
    const msg = (err as Error).message.split('. ')[0]!.replace(/^Unknown option/, 'unknown option');
    throw new UsageError(`${msg} (see "hedgerow ${cmd.name} --help")`);
  }
  const values = parsed.values as Values;
  if (values.help) return { values, positionals: parsed.positionals };
  const [min, max] = cmd.positionals ?? [0, 0];
  if (parsed.positionals.length < min) throw new UsageError(`missing argument ${cmd.args ?? ''} (see "hedgerow ${cmd.name} --help")`.trim());
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}" (see "hedgerow ${cmd.name} --help")`);
  }
  return { values, positionals: parsed.positionals };
}

/** Load configuration honouring the global flags. */
export function configFrom(values: Values, io: CommandIo): LoadedConfig {
  return loadConfig({
    file: values.config as string | undefined,
    env: io.env,
    overrides: { dataDir: values['data-dir'], certsDir: values['certs-dir'] },
  });
}

export function stringOption(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function intOption(values: Values, name: string, min = 1, max = 36500): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer between ${min} and ${max}`);
  return n;
}

export function listOption(values: Values, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  return [];
}

/**
 * Structured logging: one JSON object per line on stdout (level, time, msg, context), or a short
 * human-readable line when stdout is a terminal. Context keys that look like secrets are redacted
 * here, centrally, so a careless call site cannot leak a key or token.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'json' | 'pretty';
type Context = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(pass(word|phrase)?|secret|private|token|authorization|api[-_]?key|cookie|pem|p12|pfx)/i;
const REDACTED = '[redacted]';

export interface Logger {
  debug(msg: string, ctx?: Context): void;
  info(msg: string, ctx?: Context): void;
  warn(msg: string, ctx?: Context): void;
  error(msg: string, ctx?: Context): void;
  child(ctx: Context): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
}

function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[depth]';
  if (value instanceof Error) {
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Context = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

export function createLogger(opts: LoggerOptions = {}, base: Context = {}): Logger {
  const threshold = LEVELS[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const pretty = opts.format === 'pretty' || ((opts.format ?? 'auto') === 'auto' && process.stdout.isTTY === true);

  const emit = (level: LogLevel, msg: string, ctx?: Context) => {
    if (LEVELS[level] < threshold) return;
    const context = redact({ ...base, ...ctx }) as Context;
    const time = new Date().toISOString();
    if (pretty) {
      const extra = Object.entries(context)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      write(`${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? '  ' + extra : ''}`);
    } else {
      write(JSON.stringify({ level, time, msg, ...context }));
    }
  };

  return {
    debug: (m, c) => emit('debug', m, c),
    info: (m, c) => emit('info', m, c),
    warn: (m, c) => emit('warn', m, c),
    error: (m, c) => emit('error', m, c),
    child: (ctx) => createLogger(opts, { ...base, ...ctx }),
    isLevelEnabled: (level) => LEVELS[level] >= threshold,
  };
}

/** A logger that drops everything; for tests and library use. */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => undefined });

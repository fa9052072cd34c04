/**
 * xsd:dateTime and xsd:duration, parsed strictly and compared as instants. Months and years are calendar
 * units, so a duration is never converted to milliseconds: it is added to its start instant instead
 * (XML Schema's algorithm: the day of month is pinned to the last day of a shorter month).
 */

// Seconds are optional because the DSP 2025-1 agreement example writes `2023-12-31T06:00Z`.
const DATE_TIME = /^(-?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an xsd:dateTime WITH timezone to epoch milliseconds; undefined if malformed or out of range. */
export function parseDateTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (day < 1 || day > daysInMonth(year, month - 1)) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 19xx
  date.setUTCHours(hour, minute, second, millis);
  const offset = m[8] === 'Z' ? 0 : offsetMinutes(m[8]!);
  if (offset === undefined) return undefined;
  const ms = date.getTime() - offset * 60_000;
  return Number.isFinite(ms) ? ms : undefined;
}

function offsetMinutes(text: string): number | undefined {
  const hours = Number(text.slice(1, 3));
  const minutes = Number(text.slice(4, 6));
  if (hours > 14 || minutes > 59 || (hours === 14 && minutes > 0)) return undefined;
  return (text[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

function daysInMonth(year: number, monthIndex: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex + 1, 0);
  return date.getUTCDate();
}

/** Epoch milliseconds of a valid Date (from any realm), else undefined. */
export function instantOf(value: unknown): number | undefined {
  if (Object.prototype.toString.call(value) !== '[object Date]') return undefined;
  const ms = (value as Date).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** ISO 8601 in UTC, without a `.000` when there are no milliseconds: `2026-12-31T00:00:00Z`. */
export function formatInstant(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** The whole range of a JS Date, either side of 1970. */
const MAX_DATE_MS = 8.64e15;

export interface Duration {
  years: number;
  months: number;
  /** Days, hours, minutes and seconds together: these have a fixed length in UTC. */
  fixedMs: number;
}

const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Parses a non-negative xsd:duration (`P30D`, `PT12H`, `P1Y2M`, `PT1M30.5S`); undefined if malformed or absurdly long. */
export function parseDuration(text: string): Duration | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const [years, months, days, hours, minutes, seconds] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((part) => (part === undefined ? 0 : Number(part))) as [number, number, number, number, number, number];
  const fixedMs = Math.round((((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000);
  if (years * 12 + months > 1e6 || !(fixedMs <= MAX_DATE_MS)) return undefined;
  return { years, months, fixedMs };
}

/** `start + duration` in epoch milliseconds (NaN if the result leaves the Date range). */
export function addDuration(startMs: number, duration: Duration): number {
  let ms = startMs;
  if (duration.years !== 0 || duration.months !== 0) {
    const date = new Date(startMs);
    const monthIndex = date.getUTCMonth() + duration.months + 12 * duration.years;
    const year = date.getUTCFullYear() + Math.floor(monthIndex / 12);
    const month = monthIndex % 12;
    date.setUTCFullYear(year, month, Math.min(date.getUTCDate(), daysInMonth(year, month)));
    ms = date.getTime();
  }
  ms += duration.fixedMs;
  // A policy may name durations that, added to now, leave the Date range (P100000000D): no instant, not a throw later.
  return Math.abs(ms) <= MAX_DATE_MS ? ms : NaN;
}

/** An elapsed time as an xsd:duration in days and clock time (`P400DT2H`), for traces. */
export function formatElapsed(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const days = Math.floor(rest / 86_400_000);
  rest -= days * 86_400_000;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  const seconds = (rest - minutes * 60_000) / 1000;
  const time = `${hours ? `${hours}H` : ''}${minutes ? `${minutes}M` : ''}${seconds ? `${seconds}S` : ''}`;
  if (!days && !time) return 'PT0S';
  return `${sign}P${days ? `${days}D` : ''}${time ? `T${time}` : ''}`;
}

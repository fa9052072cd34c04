import type { CommandIo, Values } from './command';
import { intOption, stringOption } from './command';
import { UsageError } from '../errors';
import type { ProcessEvent } from '../store/repositories/process-events';

/** How `negotiations <id>` and `transfers <id>` show a DSP process: fields, owed messages, timeline. */

export type TimelineEvent = ProcessEvent;

export interface ProcessDetail {
  pendingMessages?: Array<{ messageType: string; attempts: number; lastError: string | null }>;
  timeline?: TimelineEvent[];
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** What an event's detail says, in a few words: reasons, the policy decision, delivery problems, data. */
export function describeDetail(detail: unknown): string {
  if (detail === null || detail === undefined || typeof detail !== 'object') return detail == null ? '' : text(detail);
  const d = detail as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof d.allowed === 'boolean') parts.push(d.allowed ? 'policy: allowed' : 'policy: DENIED');
  if (typeof d.code === 'string') parts.push(`code ${d.code}`);
  if (d.reason !== undefined && d.reason !== null) parts.push(`reason: ${text(d.reason)}`);
  if (Array.isArray(d.reasons) && d.reasons.length) parts.push(`reasons: ${d.reasons.map(text).join('; ')}`);
  if (d.rejected !== undefined) parts.push(`rejected: ${text(d.rejected)}`);
  if (d.skipped !== undefined) parts.push(`skipped: ${text(d.skipped)}`);
  if (typeof d.status === 'number') parts.push(`HTTP ${d.status}`);
  if (d.gaveUp) parts.push('gave up');
  if (d.error !== undefined && d.error !== null) parts.push(`error: ${text(d.error)}`);
  if (typeof d.offer === 'string') parts.push(`offer ${d.offer}`);
  if (typeof d.agreement === 'string') parts.push(`agreement ${d.agreement}`);
  if (typeof d.agreementId === 'string') parts.push(`agreement ${d.agreementId}`);
  if (typeof d.provider === 'string') parts.push(`provider ${d.provider}`);
  if (typeof d.format === 'string') parts.push(d.format);
  if (typeof d.push === 'string') parts.push(`push ${d.push}`);
  if (typeof d.downloaded === 'number') parts.push(`downloaded ${d.downloaded} bytes`);
  else if (typeof d.bytes === 'number') parts.push(`${d.bytes} bytes`);
  if (typeof d.sha256 === 'string') parts.push(`sha256 ${d.sha256}`);
  return parts.join(', ').slice(0, 1000);
}

export function timelineLine(e: TimelineEvent): string {
  const transition = e.toState ? `${e.fromState ?? '-'}→${e.toState}` : e.fromState ? `in ${e.fromState}` : '';
  return [e.at, e.kind.padEnd(11), (e.messageType ?? '').padEnd(36), transition.padEnd(22), describeDetail(e.detail)].join('  ').trimEnd();
}

/** The fields (skipping empty ones), then owed messages, then the timeline. */
export function printProcess(fields: Array<[string, string | number | null | undefined]>, detail: ProcessDetail, io: CommandIo): void {
  const row = (k: string, v: string | number | null | undefined) => {
    if (v !== null && v !== undefined && v !== '') io.out(`${`${k}:`.padEnd(15)}${v}`);
  };
  for (const [k, v] of fields) row(k, v);
  for (const p of detail.pendingMessages ?? []) row('pending', `${p.messageType} (${p.attempts} attempt${p.attempts === 1 ? '' : 's'}${p.lastError ? `, last error: ${p.lastError}` : ''})`);
  const timeline = detail.timeline ?? [];
  io.out(`timeline (${timeline.length} event${timeline.length === 1 ? '' : 's'}):`);
  for (const e of timeline) io.out(`  ${timelineLine(e)}`);
}

/** --state, --role and --limit of a process list, checked; refused when one process is asked for. */
export function listFilters(values: Values, states: readonly string[], opts: { one: boolean; noun: string; extra?: string[] }): { state?: string; role?: string; limit: number } {
  const state = stringOption(values, 'state')?.toUpperCase();
  const role = stringOption(values, 'role')?.toLowerCase();
  if (state !== undefined && !states.includes(state)) throw new UsageError(`--state must be one of ${states.join(', ')}`);
  if (role !== undefined && role !== 'provider' && role !== 'consumer') throw new UsageError('--role must be provider or consumer');
  const limit = intOption(values, 'limit', 1, 500) ?? 50;
  const extra = opts.extra ?? [];
  if (opts.one && (state || role || values.limit !== undefined || extra.some((k) => values[k] !== undefined))) {
    throw new UsageError(`${['--state', '--role', ...extra.map((k) => `--${k}`), '--limit'].join(', ')} apply to the list, not to one ${opts.noun}`);
  }
  return { ...(state ? { state } : {}), ...(role ? { role } : {}), limit };
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Store } from '../../src/store/store';
import { ConsentService, type Consent, type ConsentChange, type ConsentDetail } from '../../src/consent/consent-service';
import { GroupService } from '../../src/consent/group-service';
import { CONSENT_TRANSITIONS, checkConsentTransition, type ConsentAction } from '../../src/consent/status';
import { CONSENT_STATUSES, type ConsentStatus } from '../../src/store/repositories/consents';
import { ConflictError, NotFoundError, ValidationError } from '../../src/errors';
import { evaluate, type OdrlPolicy } from '../../src/policy';

const T0 = new Date('2026-03-01T08:00:00.000Z');
const DAY = 86_400_000;
const COOP = { participantId: 'did:web:coop.example', name: 'Coop Example' };
const FARM = 'farm:FR-3561';
const ADVISOR = 'did:web:advisor.example';

describe('consent registry', () => {
  let dir: string;
  let store: Store;
  let now: Date;
  let consents: ConsentService;

  const service = (extra: Partial<ConstructorParameters<typeof ConsentService>[0]> = {}) =>
    new ConsentService({ store, publicUrl: () => 'https://coop.example:8443/', holder: () => COOP, clock: () => now, ...extra });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-consent-'));
    store = Store.open(dir);
    now = new Date(T0);
    consents = service();
  });
  afterEach(() => {
    consents.stop();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ask = (over: Partial<Parameters<ConsentService['request']>[0]> = {}) =>
    consents.request({ originator: FARM, purpose: 'agronomic-advice', beneficiary: ADVISOR, category: 'parcel-yields', actor: 'operator', ...over });

  /** A consent brought into `status` through the service. */
  function consentIn(status: ConsentStatus): string {
    const { consent } = ask({ validUntil: new Date(now.getTime() + 10 * DAY).toISOString() });
    if (status === 'granted' || status === 'revoked') consents.grant(consent.id, 'operator');
    if (status === 'refused') consents.refuse(consent.id, 'operator');
    if (status === 'revoked') consents.revoke(consent.id, 'operator', 'farmer changed her mind');
    if (status === 'expired') {
      now = new Date(now.getTime() + 11 * DAY);
      consents.expireDue();
    }
    expect(consents.get(consent.id)!.status).toBe(status);
    return consent.id;
  }

  const changesOf = (db: Store) => (db.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;

  describe('status transition table', () => {
    const expected: Record<ConsentStatus, Partial<Record<ConsentAction, ConsentStatus>>> = {
      pending: { grant: 'granted', refuse: 'refused', expire: 'expired' },
      granted: { revoke: 'revoked', expire: 'expired' },
      refused: {},
      revoked: {},
      expired: {},
    };
    const cases = CONSENT_STATUSES.flatMap((from) => (['grant', 'refuse', 'revoke', 'expire'] as ConsentAction[]).map((action) => [from, action, expected[from][action] ?? null] as const));

    it.each(cases)('table: %s --%s--> %s', (from, action, to) => {
      const check = checkConsentTransition(from, action);
      if (to) expect(check).toEqual({ ok: true, to });
      else expect(check.ok).toBe(false);
    });

    it('lists exactly the allowed transitions', () => {
      expect(CONSENT_TRANSITIONS.length).toBe(cases.filter(([, , to]) => to).length);
    });

    it.each(cases.filter(([, action]) => action !== 'expire'))('service: %s --%s--> %s', (from, action, to) => {
      const id = consentIn(from);
      const before = consents.get(id)!;
      const act = () => (action === 'grant' ? consents.grant(id, 'operator') : action === 'refuse' ? consents.refuse(id, 'operator') : consents.revoke(id, 'operator', 'why'));
      if (to) {
        const after = act();
        expect(after.status).toBe(to);
        expect(after.history.length).toBe(before.history.length + 1);
        expect(after.history.at(-1)).toMatchObject({ status: to, actor: 'operator' });
      } else {
        expect(act).toThrow(ConflictError);
        const after = consents.get(id)!;
        expect(after.status).toBe(from);
        expect(after.history).toEqual(before.history);
      }
    });

    it.each(CONSENT_STATUSES.map((s) => [s, expected[s].expire ?? s] as const))('service: expiry of a %s consent leaves it %s', (from, to) => {
      const id = consentIn(from);
      now = new Date(now.getTime() + 400 * DAY);
      consents.expireDue();
      expect(consents.get(id)!.status).toBe(to);
    });

    it('unknown consents are 404s', () => {
      expect(() => consents.grant('nope', 'operator')).toThrow(NotFoundError);
      expect(consents.get('nope')).toBeUndefined();
    });
  });

  describe('request', () => {
    it('creates a pending consent with a history row and a one-time approval URL; only the token hash is stored', () => {
      const { consent, approvalUrl, approvalExpiresAt } = ask({ note: 'asked at the general assembly' });
      expect(consent).toMatchObject({ originator: FARM, beneficiary: ADVISOR, purpose: 'agronomic-advice', category: 'parcel-yields', status: 'pending', validFrom: null, validUntil: null });
      expect(consent.history).toEqual([expect.objectContaining({ status: 'pending', actor: 'operator', note: 'asked at the general assembly', at: T0.toISOString() })]);
      const match = /^https:\/\/coop\.example:8443\/consent\/([0-9a-f-]{36}\.[A-Za-z0-9_-]{43})$/.exec(approvalUrl);
      expect(match).not.toBeNull();
      const token = match![1]!;
      expect(token.startsWith(consent.id + '.')).toBe(true);
      expect(approvalExpiresAt).toBe(new Date(T0.getTime() + 30 * DAY).toISOString());
      expect(consent.approvalExpiresAt).toBe(approvalExpiresAt);
      const row = store.db.prepare('SELECT * FROM consents WHERE id = ?').get(consent.id) as Record<string, unknown>;
      expect(row.approval_hash).toBe(crypto.createHash('sha256').update(token).digest('hex'));
      const secret = token.split('.')[1]!;
      const everything = JSON.stringify([row, store.db.prepare('SELECT * FROM consent_history').all()]);
      expect(everything).not.toContain(secret);
    });

    it('the link expires with the validity when that comes first', () => {
      const until = new Date(T0.getTime() + 5 * DAY).toISOString();
      expect(ask({ validUntil: until }).approvalExpiresAt).toBe(until);
    });

    it.each<[Record<string, unknown>, string]>([
      [{ originator: '' }, '/originator'],
      [{ originator: undefined }, '/originator'],
      [{ purpose: '   ' }, '/purpose'],
      [{ beneficiary: 'a\nb' }, '/beneficiary'],
      [{ category: 'x'.repeat(201) }, '/category'],
      [{ validUntil: 'next tuesday' }, '/validUntil'],
      [{ validUntil: '2026-03-01T09:00:00' }, '/validUntil'], // no time zone
      [{ validUntil: '2026-02-01' }, '/validUntil'], // past
      [{ validFrom: '2026-06-01', validUntil: '2026-05-01' }, '/validUntil'],
      [{ validFrom: 'soon' }, '/validFrom'],
    ])('refuses %j at %s', (over, where) => {
      let err: unknown;
      try {
        ask(over as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).path).toBe(where);
      expect(store.consents.list()).toEqual([]);
    });

    it('normalises dates to UTC instants', () => {
      const { consent } = ask({ validFrom: '2026-04-01', validUntil: '2026-09-30T18:00:00+02:00' });
      expect(consent.validFrom).toBe('2026-04-01T00:00:00.000Z');
      expect(consent.validUntil).toBe('2026-09-30T16:00:00.000Z');
    });
  });

  describe('every change is one transaction with its history row', () => {
    it('a failure inside the transaction (audit hook) leaves status and history unchanged', () => {
      const { consent } = ask();
      const failing = service({
        recordChange: (change) => {
          if (change.to === 'granted') throw new Error('audit trail unavailable');
        },
      });
      expect(() => failing.grant(consent.id, 'operator')).toThrow('audit trail unavailable');
      const after = failing.get(consent.id)!;
      expect(after.status).toBe('pending');
      expect(after.history.map((h) => h.status)).toEqual(['pending']);
    });

    it('the hook sees every change, the request included', () => {
      const seen: ConsentChange[] = [];
      consents = service({ recordChange: (c) => seen.push(c) });
      const { consent } = ask();
      consents.grant(consent.id, 'operator', 'signed form');
      consents.revoke(consent.id, 'operator', 'farmer left the cooperative');
      expect(seen.map((c) => [c.from, c.to, c.actor, c.note])).toEqual([
        [null, 'pending', 'operator', expect.stringContaining('approval link valid until')],
        ['pending', 'granted', 'operator', 'signed form'],
        ['granted', 'revoked', 'operator', 'farmer left the cooperative'],
      ]);
      expect(consents.get(consent.id)!.history.map((h) => [h.status, h.actor, h.note])).toEqual([
        ['pending', 'operator', expect.any(String)],
        ['granted', 'operator', 'signed form'],
        ['revoked', 'operator', 'farmer left the cooperative'],
      ]);
    });
  });

  describe('consentCheck', () => {
    let id: string;
    beforeEach(() => {
      id = ask({ validFrom: '2026-03-10T00:00:00Z', validUntil: '2026-06-30T00:00:00Z' }).consent.id;
      consents.grant(id, 'operator');
    });
    const inWindow = new Date('2026-04-01T00:00:00Z');
    // The consent asked for in beforeEach is limited to parcel-yields.
    const req = { purpose: 'agronomic-advice', category: 'parcel-yields' };

    it.each<[string, string, string | null, Record<string, string>, Date, boolean]>([
      ['matching consent', ADVISOR, FARM, req, inWindow, true],
      ['no category asked: a consent limited to one does not cover it', ADVISOR, FARM, { purpose: 'agronomic-advice' }, inWindow, false],
      ['other category', ADVISOR, FARM, { ...req, category: 'soil-analyses' }, inWindow, false],
      ['other purpose', ADVISOR, FARM, { purpose: 'marketing' }, inWindow, false],
      ['no purpose', ADVISOR, FARM, {}, inWindow, false],
      ['other beneficiary', 'did:web:insurer.example', FARM, req, inWindow, false],
      ['other originator (asset)', ADVISOR, 'farm:FR-9999', req, inWindow, false],
      ['originator from the requirement', ADVISOR, null, { ...req, originator: FARM }, inWindow, true],
      ['requirement and asset disagree', ADVISOR, 'farm:FR-9999', { ...req, originator: FARM }, inWindow, false],
      ['requirement and asset agree', ADVISOR, FARM, { ...req, originator: FARM }, inWindow, true],
      ['no originator at all', ADVISOR, null, req, inWindow, false],
      ['before validFrom', ADVISOR, FARM, req, new Date('2026-03-09T23:59:59Z'), false],
      ['at validFrom', ADVISOR, FARM, req, new Date('2026-03-10T00:00:00Z'), true],
      ['just before validUntil', ADVISOR, FARM, req, new Date('2026-06-29T23:59:59.999Z'), true],
      ['at validUntil (not yet recorded as expired)', ADVISOR, FARM, req, new Date('2026-06-30T00:00:00Z'), false],
    ])('%s', (_name, beneficiary, originator, requirement, at, expected) => {
      expect(consents.consentCheck(beneficiary, originator, { now: at })(requirement)).toBe(expected);
    });

    it('a consent without category covers every category', () => {
      const other = ask({ category: null, purpose: 'statistics' }).consent.id;
      consents.grant(other, 'operator');
      const check = consents.consentCheck(ADVISOR, FARM, { now: inWindow });
      expect(check({ purpose: 'statistics', category: 'soil-analyses' })).toBe(true);
      expect(check({ purpose: 'statistics' })).toBe(true);
    });

    it("opts.category (the asset's) applies when the requirement names none", () => {
      const anyCategory = { purpose: 'agronomic-advice' };
      expect(consents.consentCheck(ADVISOR, FARM, { now: inWindow, category: 'soil-analyses' })(anyCategory)).toBe(false);
      expect(consents.consentCheck(ADVISOR, FARM, { now: inWindow, category: 'parcel-yields' })(anyCategory)).toBe(true);
      expect(consents.consentCheck(ADVISOR, FARM, { now: inWindow, category: null })(anyCategory)).toBe(false);
    });

    it('pending, refused, revoked and expired consents do not count', () => {
      for (const status of ['pending', 'refused', 'revoked', 'expired'] as const) {
        now = new Date(T0);
        store.db.prepare("UPDATE consents SET status = 'revoked' WHERE status = 'granted'").run(); // only the one under test may match
        const target = consentIn(status);
        expect(store.consents.get(target)!.status).toBe(status);
        expect(consents.consentCheck(ADVISOR, FARM, { now })(req)).toBe(false);
      }
    });

    it('sees a revocation at once, even through a check created (and cached) before it', () => {
      const check = consents.consentCheck(ADVISOR, FARM, { now: inWindow });
      expect(check(req)).toBe(true);
      consents.revoke(id, 'operator', 'withdrawn');
      expect(check(req)).toBe(false);
      expect(consents.consentCheck(ADVISOR, FARM, { now: inWindow })(req)).toBe(false);
    });

    it('drives the policy engine: consent constraint allows only while the consent holds', () => {
      const policy: OdrlPolicy = { permission: [{ action: 'use', constraint: [{ leftOperand: 'consent', operator: 'eq', rightOperand: { category: 'parcel-yields' } }] }] };
      const decide = (purpose: string) =>
        evaluate(policy, { scope: 'transfer', facts: { now: inWindow, participantId: ADVISOR, purpose, consent: consents.consentCheck(ADVISOR, FARM, { now: inWindow }) } });
      expect(decide('agronomic-advice').allowed).toBe(true);
      expect(decide('marketing').allowed).toBe(false);
      consents.revoke(id, 'operator');
      const denied = decide('agronomic-advice');
      expect(denied.allowed).toBe(false);
      expect(denied.reason).toMatch(/consent/);
    });

    it('uses the consents_match index', () => {
      const plan = store.db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT 1 FROM consents WHERE originator = 'a' AND beneficiary = 'b' AND purpose = 'c' AND status = 'granted'
             AND (valid_from IS NULL OR valid_from <= 'x') AND (valid_until IS NULL OR valid_until > 'x') AND (NULL IS NULL OR category IS NULL OR category = NULL) LIMIT 1`,
        )
        .all() as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING INDEX consents_match/);
    });

    it('finds the one matching consent among many farms (by index, see above)', () => {
      for (let i = 0; i < 200; i++) consents.grant(ask({ originator: `farm:${i}` }).consent.id, 'operator');
      let allowed = 0;
      for (let i = 0; i < 400; i++) if (consents.consentCheck(ADVISOR, `farm:${i % 200}`)(req)) allowed++;
      expect(allowed).toBe(400);
      expect(consents.consentCheck(ADVISOR, 'farm:200')(req)).toBeFalsy();
    });
  });

  describe('expiry', () => {
    it('records expiry (actor system) only when something is due; reads write nothing otherwise', () => {
      const { consent } = ask({ validUntil: '2026-03-05T00:00:00Z' });
      consents.grant(consent.id, 'operator');
      const before = changesOf(store);
      consents.list();
      consents.get(consent.id);
      expect(consents.expireDue()).toEqual([]);
      expect(changesOf(store)).toBe(before);

      now = new Date('2026-03-05T00:00:00Z');
      const expired = consents.expireDue();
      expect(expired.map((c) => c.id)).toEqual([consent.id]);
      const after = consents.get(consent.id)!;
      expect(after.status).toBe('expired');
      expect(after.history.at(-1)).toMatchObject({ status: 'expired', actor: 'system', note: 'validity ended at 2026-03-05T00:00:00.000Z', at: '2026-03-05T00:00:00.000Z' });
      const settled = changesOf(store);
      consents.list();
      expect(consents.expireDue()).toEqual([]);
      expect(changesOf(store)).toBe(settled);
    });

    it('a pending consent expires when its approval link runs out; reads record it', () => {
      const { consent } = ask();
      now = new Date(T0.getTime() + 30 * DAY - 1);
      expect(consents.get(consent.id)!.status).toBe('pending');
      now = new Date(T0.getTime() + 30 * DAY);
      const read = consents.get(consent.id)!;
      expect(read.status).toBe('expired');
      expect(read.history.at(-1)).toMatchObject({ actor: 'system', note: expect.stringContaining('approval link ran out') });
      expect(() => consents.grant(consent.id, 'operator')).toThrow(/expired, a final status/);
    });

    it('a timer records the expiry at the deadline and fires onRevoked', async () => {
      const real = service({ clock: () => new Date() });
      const fired: Consent[] = [];
      real.onRevoked((c) => void fired.push(c));
      const { consent } = real.request({ originator: FARM, purpose: 'p', beneficiary: ADVISOR, validUntil: new Date(Date.now() + 300).toISOString(), actor: 'operator' });
      real.grant(consent.id, 'operator');
      real.start();
      try {
        await new Promise((r) => setTimeout(r, 700));
        expect(store.consents.get(consent.id)!.status).toBe('expired');
        expect(fired.map((c) => [c.id, c.status])).toEqual([[consent.id, 'expired']]);
      } finally {
        real.stop();
      }
    });
  });

  describe('a backlog of more due consents than one batch (a box back from a long outage)', () => {
    const MANY = 1201;
    /** MANY granted consents that ran out at T0 + 1 day, and `pending` unanswered ones, stored directly. */
    function backlog(pending = 0): string[] {
      return store.transaction(() =>
        Array.from({ length: MANY + pending }, (_, i) => {
          const id = crypto.randomUUID();
          const at = new Date(T0.getTime() + i).toISOString();
          const status = i < MANY ? 'granted' : 'pending';
          store.consents.insert({ id, originator: `farm:${i}`, category: null, purpose: 'p', beneficiary: ADVISOR, validFrom: null, validUntil: new Date(T0.getTime() + DAY).toISOString(), status, createdAt: at, updatedAt: at, approvalHash: null });
          return id;
        }),
      );
    }
    const statuses = () => Object.fromEntries(store.db.prepare<[], { status: string; n: number }>('SELECT status, count(*) AS n FROM consents GROUP BY status').all().map((r) => [r.status, r.n]));

    it(`one timer pass expires all ${MANY + 300}, in batches with a turn of the event loop between them`, async () => {
      backlog(300);
      const fired: string[] = [];
      consents.onRevoked((c) => void fired.push(c.id));
      now = new Date(T0.getTime() + 2 * DAY);
      let afterFirstBatch: unknown;
      setImmediate(() => (afterFirstBatch = statuses()));
      const expired = await consents.expireDueInBatches();
      expect(expired).toHaveLength(MANY + 300);
      expect(statuses()).toEqual({ expired: MANY + 300 });
      expect(fired).toHaveLength(MANY); // only the granted ones were revocations
      expect(afterFirstBatch).toEqual({ expired: 500, granted: MANY - 500, pending: 300 });
    });

    it('start() records the whole backlog without waiting for the next deadline', async () => {
      backlog();
      now = new Date(T0.getTime() + 2 * DAY);
      consents.start();
      for (let i = 0; i < 50 && statuses().granted; i++) await new Promise((r) => setTimeout(r, 20));
      expect(statuses()).toEqual({ expired: MANY });
    });

    it('a consent whose expiry fails is logged and passed over; the pass ends, the next one retries it', async () => {
      const ids = backlog();
      const broken = new Set([ids[0], ids[500], ids[1200]]);
      const errors: unknown[] = [];
      const logger = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: (_m: string, meta: unknown) => void errors.push(meta) };
      const flaky = service({
        logger: logger as never,
        recordChange: (change) => {
          if (broken.has(change.consentId)) throw new Error('audit disk full');
        },
      });
      now = new Date(T0.getTime() + 2 * DAY);
      expect(await flaky.expireDueInBatches()).toHaveLength(MANY - 3);
      expect(statuses()).toEqual({ expired: MANY - 3, granted: 3 });
      expect(errors).toHaveLength(3);
      // The synchronous form (reads, changes) still reports the failure to its caller.
      expect(() => flaky.expireDue()).toThrow('audit disk full');
      broken.clear();
      expect(await flaky.expireDueInBatches()).toHaveLength(3);
    });
  });

  describe('onRevoked', () => {
    it('fires after the revoking transaction committed, with the reason', () => {
      const { consent } = ask();
      consents.grant(consent.id, 'operator');
      const other = new BetterSqlite3(store.file, { readonly: true });
      const seen: Array<{ status: string; committed: string; change: ConsentChange }> = [];
      try {
        consents.onRevoked((c, change) => {
          const committed = (other.prepare('SELECT status FROM consents WHERE id = ?').get(c.id) as { status: string }).status;
          seen.push({ status: c.status, committed, change });
        });
        consents.revoke(consent.id, 'operator', 'farmer asked by phone');
      } finally {
        other.close();
      }
      expect(seen).toEqual([{ status: 'revoked', committed: 'revoked', change: expect.objectContaining({ from: 'granted', to: 'revoked', note: 'farmer asked by phone' }) }]);
    });

    it('does not fire for refusals or unanswered requests that expire; does fire for granted ones that expire', () => {
      const fired: string[] = [];
      consents.onRevoked((c) => void fired.push(`${c.id}:${c.status}`));
      const refused = ask().consent.id;
      consents.refuse(refused, 'operator');
      const unanswered = ask().consent.id;
      const granted = ask({ validUntil: new Date(T0.getTime() + DAY).toISOString() }).consent.id;
      consents.grant(granted, 'operator');
      now = new Date(T0.getTime() + 31 * DAY);
      consents.expireDue();
      expect(store.consents.get(unanswered)!.status).toBe('expired');
      expect(fired).toEqual([`${granted}:expired`]);
    });

    it('a failing listener neither undoes the revocation nor stops other listeners; unsubscribe works', async () => {
      const { consent } = ask();
      consents.grant(consent.id, 'operator');
      const calls: string[] = [];
      consents.onRevoked(() => {
        throw new Error('boom');
      });
      consents.onRevoked(async () => {
        calls.push('async');
        throw new Error('rejected');
      });
      const off = consents.onRevoked(() => void calls.push('removed'));
      off();
      consents.onRevoked(() => void calls.push('second'));
      expect(consents.revoke(consent.id, 'operator').status).toBe('revoked');
      await new Promise((r) => setImmediate(r));
      expect(calls).toEqual(['async', 'second']);
    });

    it('inside an outer transaction, listeners run only after it', async () => {
      const { consent } = ask();
      consents.grant(consent.id, 'operator');
      const fired: string[] = [];
      consents.onRevoked(() => void fired.push('fired'));
      store.transaction(() => {
        consents.revoke(consent.id, 'operator');
        expect(fired).toEqual([]);
      });
      await new Promise((r) => setImmediate(r));
      expect(fired).toEqual(['fired']);
    });
  });

  describe('approval link', () => {
    const tokenOf = (url: string) => url.split('/consent/')[1]!;

    it('decides once; a replay, a wrong secret or a malformed token changes nothing', () => {
      const { consent, approvalUrl } = ask();
      const token = tokenOf(approvalUrl);
      const wrong = `${consent.id}.${'A'.repeat(43)}`;
      expect(consents.approvalView(wrong)).toBeUndefined();
      expect(consents.approvalView('../../etc/passwd')).toBeUndefined();
      expect(() => consents.decide(wrong, 'grant')).toThrow(NotFoundError);
      expect(consents.approvalView(token)).toMatchObject({ state: 'open', holder: COOP });

      const granted: ConsentDetail = consents.decide(token, 'grant');
      expect(granted.status).toBe('granted');
      expect(granted.history.at(-1)).toMatchObject({ status: 'granted', actor: FARM, note: expect.stringContaining('approval link') });
      expect(() => consents.decide(token, 'refuse')).toThrow(ConflictError);
      expect(() => consents.decide(token, 'grant')).toThrow(ConflictError);
      expect(consents.get(consent.id)!.history).toHaveLength(2);
      expect(consents.approvalView(token)).toMatchObject({ state: 'decided' });
    });

    it('an expired link shows as expired and cannot decide', () => {
      const { approvalUrl } = ask();
      now = new Date(T0.getTime() + 31 * DAY);
      expect(consents.approvalView(tokenOf(approvalUrl))).toMatchObject({ state: 'expired' });
      expect(() => consents.decide(tokenOf(approvalUrl), 'grant')).toThrow(/expired/);
    });
  });

  describe('list', () => {
    it('filters by originator, beneficiary, purpose and status, newest first, and pages', () => {
      const a = ask().consent.id;
      now = new Date(T0.getTime() + 1000);
      const b = ask({ beneficiary: 'did:web:insurer.example' }).consent.id;
      now = new Date(T0.getTime() + 2000);
      const c = ask({ originator: 'farm:other', purpose: 'statistics' }).consent.id;
      consents.grant(b, 'operator');
      expect(consents.list().map((x) => x.id)).toEqual([c, b, a]);
      expect(consents.list({ status: 'granted' }).map((x) => x.id)).toEqual([b]);
      expect(consents.list({ originator: FARM }).map((x) => x.id)).toEqual([b, a]);
      expect(consents.list({ beneficiary: ADVISOR, purpose: 'agronomic-advice' }).map((x) => x.id)).toEqual([a]);
      expect(consents.list({ limit: 1, before: c }).map((x) => x.id)).toEqual([b]);
      expect(() => consents.list({ status: 'maybe' as never })).toThrow(ValidationError);
    });
  });
});

describe('participant groups', () => {
  let dir: string;
  let store: Store;
  let groups: GroupService;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-groups-'));
    store = Store.open(dir);
    groups = new GroupService({ store, clock: () => T0 });
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('adds, lists, answers groupsOf and removes', () => {
    expect(groups.add('coop-members', 'did:web:farm1.example')).toEqual({ group: 'coop-members', participantId: 'did:web:farm1.example', addedAt: T0.toISOString() });
    groups.add('coop-members', 'did:web:farm2.example');
    groups.add('advisors', 'did:web:farm1.example');
    expect(() => groups.add('coop-members', 'did:web:farm1.example')).toThrow(ConflictError);
    expect(groups.groupsOf('did:web:farm1.example')).toEqual(['advisors', 'coop-members']);
    expect(groups.groupsOf('did:web:nobody.example')).toEqual([]);
    expect(groups.list().map((g) => [g.name, g.members.map((m) => m.participantId)])).toEqual([
      ['advisors', ['did:web:farm1.example']],
      ['coop-members', ['did:web:farm1.example', 'did:web:farm2.example']],
    ]);
    groups.remove('coop-members', 'did:web:farm1.example');
    expect(groups.groupsOf('did:web:farm1.example')).toEqual(['advisors']);
    expect(() => groups.remove('coop-members', 'did:web:farm1.example')).toThrow(NotFoundError);
    groups.remove('advisors', 'did:web:farm1.example');
    expect(() => groups.get('advisors')).toThrow(NotFoundError);
  });

  it('validates names', () => {
    expect(() => groups.add('', 'x')).toThrow(ValidationError);
    expect(() => groups.add('g', 'a\u0000b')).toThrow(ValidationError);
  });

  it('groupsOf uses the participant index and feeds the membership operand', () => {
    const plan = store.db.prepare("EXPLAIN QUERY PLAN SELECT group_name FROM participant_groups WHERE participant_id = 'x' ORDER BY group_name").all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/participant_groups_by_participant/);
    groups.add('coop-members', 'did:web:farm1.example');
    const policy: OdrlPolicy = { permission: [{ action: 'use', constraint: [{ leftOperand: 'membership', operator: 'eq', rightOperand: 'coop-members' }] }] };
    const decide = (participantId: string) => evaluate(policy, { scope: 'catalog', facts: { now: T0, participantId, groups: groups.groupsOf(participantId) } }).allowed;
    expect(decide('did:web:farm1.example')).toBe(true);
    expect(decide('did:web:farm2.example')).toBe(false);
  });
});

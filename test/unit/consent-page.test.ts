import crypto from 'node:crypto';
import { APPROVAL_PAGE_CSP, escapeHtml, renderApprovalView, renderDecision } from '../../src/consent/approval-page';
import type { ConsentDetail } from '../../src/consent/consent-service';

const EVIL = `<script>alert("x")</script><img src=x onerror='alert(1)'>&amp;`;

const consent = (over: Partial<ConsentDetail> = {}): ConsentDetail => ({
  id: '0b8c7d2e-1111-4222-8333-444455556666',
  originator: `farm ${EVIL}`,
  category: `cat ${EVIL}`,
  purpose: `purpose ${EVIL}`,
  beneficiary: `did:web:${EVIL}`,
  validFrom: null,
  validUntil: '2027-06-30T18:00:00.000Z',
  status: 'pending',
  createdAt: '2026-03-01T08:00:00.000Z',
  updatedAt: '2026-03-01T08:00:00.000Z',
  history: [{ seq: 1, consentId: 'x', at: '2026-03-01T08:00:00.000Z', status: 'pending', actor: 'operator', note: EVIL }],
  approvalExpiresAt: '2026-03-31T08:00:00.000Z',
  ...over,
});
const holder = { participantId: `did:web:coop.example`, name: `Coop ${EVIL}` };

/** Every tag in the page: only these may appear, whatever the data. */
const ALLOWED_TAGS = new Set(['!DOCTYPE', 'html', 'head', 'meta', 'title', 'style', 'body', 'main', 'div', 'h1', 'p', 'strong', 'dl', 'dt', 'dd', 'code', 'time', 'form', 'button', 'span']);

function tagsOf(html: string): string[] {
  return [...html.matchAll(/<\/?([!A-Za-z][A-Za-z0-9]*)/g)].map((m) => m[1]!);
}

describe('approval page rendering', () => {
  it('escapes every character that matters in HTML', () => {
    expect(escapeHtml(`<a href="x" title='y'>&\``)).toBe('&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#96;');
  });

  it.each([
    ['open', renderApprovalView({ state: 'open', consent: consent(), holder, approvalExpiresAt: '2026-03-31T08:00:00.000Z' })],
    ['decided', renderApprovalView({ state: 'decided', consent: consent({ status: 'granted' }), holder, approvalExpiresAt: '2026-03-31T08:00:00.000Z' })],
    ['expired', renderApprovalView({ state: 'expired', consent: consent({ status: 'expired' }), holder, approvalExpiresAt: '2026-03-31T08:00:00.000Z' })],
    ['granted', { status: 200, html: renderDecision(consent({ status: 'granted' }), holder) }],
    ['refused', { status: 200, html: renderDecision(consent({ status: 'refused' }), holder) }],
  ])('%s page: hostile values are shown as text, never as markup', (_name, { html }) => {
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<[^>]*onerror=/i);
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
    expect(html).toContain('&#38;amp;');
    for (const tag of tagsOf(html)) expect(ALLOWED_TAGS).toContain(tag);
  });

  it('the open page asks the question with two labelled buttons and names everything the farmer needs', () => {
    const { status, html } = renderApprovalView({
      state: 'open',
      consent: consent({ originator: 'farm:FR-3561', category: null, purpose: 'agronomic advice', beneficiary: 'did:web:advisor.example' }),
      holder: { participantId: 'did:web:coop.example', name: 'Coop Example' },
      approvalExpiresAt: '2026-03-31T08:00:00.000Z',
    });
    expect(status).toBe(200);
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toMatch(/<form method="post"[^>]*>/);
    expect(html).not.toMatch(/action=/); // posts to the same URL only
    expect(html).toContain('<button type="submit" name="decision" value="grant"');
    expect(html).toContain('<button type="submit" name="decision" value="refuse"');
    for (const text of ['did:web:advisor.example', 'farm:FR-3561', 'All categories', 'Coop Example (did:web:coop.example)', 'agronomic advice', '2027-06-30 18:00 UTC', '2026-03-31 08:00 UTC'])
      expect(html).toContain(text);
    expect(html).not.toMatch(/<script|src=|href=/);
  });

  it('the CSP allows nothing but the inline style (by hash) and posting to itself', () => {
    expect(APPROVAL_PAGE_CSP).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    expect(APPROVAL_PAGE_CSP).not.toContain('unsafe');
  });

  it('the style hash in the CSP matches the inline style of the page', () => {
    const { html } = renderApprovalView({ state: 'open', consent: consent(), holder, approvalExpiresAt: '2026-03-31T08:00:00.000Z' });
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const hash = crypto.createHash('sha256').update(style, 'utf8').digest('base64');
    expect(APPROVAL_PAGE_CSP).toContain(`'sha256-${hash}'`);
    expect(html.match(/<style>/g)).toHaveLength(1);
    expect(html).not.toMatch(/ style=/);
  });

  it('status codes: already answered 409, expired 410', () => {
    expect(renderApprovalView({ state: 'decided', consent: consent({ status: 'refused' }), holder, approvalExpiresAt: 'x' }).status).toBe(409);
    expect(renderApprovalView({ state: 'expired', consent: consent({ status: 'expired' }), holder, approvalExpiresAt: 'x' }).status).toBe(410);
  });
});

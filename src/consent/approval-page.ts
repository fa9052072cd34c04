/**
 * The farmer approval page on the public listener: `GET /consent/:token` shows who asks, for which data,
 * for what purpose and how long; `POST /consent/:token` with `decision=grant|refuse` (form-urlencoded)
 * records the answer.
 *
 * Security design:
 * - The one-time token in the path is the only credential (256 random bits; only its SHA-256 is stored).
 *   There are no cookies and no session, so a cross-site request cannot borrow the farmer's authority:
 *   forging the POST requires knowing the token. Only POST changes anything, only a pending consent can
 *   be decided, and only once (the decision runs in one IMMEDIATE transaction).
 * - Self-contained HTML: no scripts, no external assets; a strict CSP (`default-src 'none'`, the inline
 *   style allowed by its hash, `form-action 'self'`, `frame-ancestors 'none'`), `no-store`,
 *   `Referrer-Policy: no-referrer` (the token must not leak), `nosniff`.
 * - Every interpolated value is HTML-escaped. Unknown or wrong tokens get a 404 page; errors a generic
 *   page, never a stack trace.
 */
import crypto from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import { expressLib } from '../lazy';
import type { Logger } from '../log/logger';
import { HedgerowError } from '../errors';
import { CONSENT_PAGE_PATH, type ApprovalView, type ConsentDetail, type ConsentService, type DataHolder } from './consent-service';

/** Escape text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f1a;--bg:#f6f7f2;--card:#fff;--muted:#4a5147;--ok:#1e6b34;--on-ok:#fff;--no:#8a1c1c;--line:#c9cec3}
@media (prefers-color-scheme:dark){:root{--fg:#eef1ea;--bg:#141713;--card:#1f231e;--muted:#b9c0b3;--ok:#6fcf8a;--on-ok:#0b1a0f;--no:#ff9d9d;--line:#3a4037}}
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:40rem;margin:0 auto;padding:1.5rem 1rem 3rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1.25rem 1.25rem .5rem}
h1{font-size:1.6rem;line-height:1.25;margin:.25rem 0 1rem}
dl{margin:0}
dt{font-weight:700;margin-top:.9rem}
dd{margin:.15rem 0 0;overflow-wrap:anywhere}
.muted{color:var(--muted);font-size:.95rem}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.5rem 0 .5rem}
button{font:inherit;font-weight:700;min-height:3rem;padding:.75rem 1.5rem;border-radius:.5rem;border:2px solid currentColor;cursor:pointer;flex:1 1 12rem}
button.grant{background:var(--ok);border-color:var(--ok);color:var(--on-ok)}
button.refuse{background:transparent;color:var(--no)}
button:focus-visible{outline:3px solid var(--fg);outline-offset:3px}
.status{font-weight:700}
.status.granted{color:var(--ok)}
.status.refused,.status.revoked,.status.expired{color:var(--no)}
`;

const STYLE_HASH = crypto.createHash('sha256').update(STYLE, 'utf8').digest('base64');

/** The Content-Security-Policy of every page: nothing but the inline style above and posting to itself. */
export const APPROVAL_PAGE_CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

/** `2027-06-30 18:00 UTC` in a <time> element. */
function when(iso: string): string {
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(text)}</time>`;
}

function holderLabel(holder: DataHolder): string {
  return holder.name ? `${escapeHtml(holder.name)} (${escapeHtml(holder.participantId)})` : escapeHtml(holder.participantId);
}

function validity(c: ConsentDetail): string {
  const from = c.validFrom ? `from ${when(c.validFrom)}` : 'from the moment you grant it';
  const until = c.validUntil ? `until ${when(c.validUntil)}` : 'until you revoke it';
  return `${from}, ${until}`;
}

/** The facts of a consent as a definition list. */
function details(c: ConsentDetail, holder: DataHolder): string {
  const rows: Array<[string, string]> = [
    ['Who will receive the data', escapeHtml(c.beneficiary)],
    ['Whose data', escapeHtml(c.originator)],
    ['Which data', c.category ? escapeHtml(c.category) : '<strong>All categories</strong> of your data held by the cooperative'],
    ['Held and shared by', holderLabel(holder)],
    ['Purpose', escapeHtml(c.purpose)],
    ['Valid', validity(c)],
    ['Reference', `<code>${escapeHtml(c.id)}</code>`],
  ];
  return `<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<div class="card">
<h1>${escapeHtml(title)}</h1>
${body}
</div>
</main>
</body>
</html>
`;
}

const STATUS_TEXT: Record<string, string> = {
  pending: 'waiting for your answer',
  granted: 'granted',
  refused: 'refused',
  revoked: 'revoked',
  expired: 'expired',
};

function statusLine(c: ConsentDetail): string {
  const last = c.history[c.history.length - 1];
  const since = last ? ` since ${when(last.at)}` : '';
  return `<p>Status: <span class="status ${escapeHtml(c.status)}">${escapeHtml(STATUS_TEXT[c.status] ?? c.status)}</span>${since}.</p>`;
}

/** The page for a token: the question while pending, otherwise what became of it. */
export function renderApprovalView(view: ApprovalView): { status: number; html: string } {
  const { consent: c, holder } = view;
  if (view.state === 'open') {
    const holderName = escapeHtml(holder.name || holder.participantId);
    return {
      status: 200,
      html: page(
        'Consent request',
        `<p><strong>${holderName}</strong> asks whether it may share your data with <strong>${escapeHtml(c.beneficiary)}</strong>, for the purpose below only.</p>
${details(c, holder)}
<form method="post" class="actions" aria-label="Your answer">
<button type="submit" name="decision" value="grant" class="grant">Grant consent</button>
<button type="submit" name="decision" value="refuse" class="refuse">Refuse</button>
</form>
<p class="muted">You can withdraw a consent at any time: ask ${holderName} to revoke it, and the sharing stops.
This link can be used once and works until ${when(view.approvalExpiresAt)}.</p>`,
      ),
    };
  }
  if (view.state === 'expired') {
    return {
      status: 410,
      html: page('This link has expired', `<p>The request was not answered in time, so nothing was shared. Ask the cooperative for a new request if you wish.</p>${details(c, holder)}`),
    };
  }
  return {
    status: 409,
    html: page('This request has already been answered', `${statusLine(c)}<p>The link cannot be used again.</p>${details(c, holder)}`),
  };
}

/** The confirmation after the farmer answered. */
export function renderDecision(c: ConsentDetail, holder: DataHolder): string {
  if (c.status === 'granted') {
    return page(
      'Thank you: consent granted',
      `${statusLine(c)}<p>${escapeHtml(holder.name || holder.participantId)} may now share the data below with ${escapeHtml(c.beneficiary)}, for this purpose only. You can ask for the consent to be revoked at any time.</p>${details(c, holder)}`,
    );
  }
  return page('Consent refused', `${statusLine(c)}<p>Nothing will be shared with ${escapeHtml(c.beneficiary)} under this request.</p>${details(c, holder)}`);
}

export function renderMessage(title: string, text: string): string {
  return page(title, `<p>${escapeHtml(text)}</p>`);
}

function send(res: Response, status: number, html: string): void {
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': APPROVAL_PAGE_CSP,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'X-Robots-Tag': 'noindex, nofollow',
    })
    .send(html);
}

const NOT_FOUND = () => renderMessage('Link not valid', 'This consent link is not valid. Check that you opened the complete link you received.');

/** Routes of the approval page, for the public listener. */
export function createConsentApprovalRouter(deps: { consents: ConsentService; logger?: Logger }): Router {
  const router = expressLib().Router();
  const form = expressLib().urlencoded({ extended: false, limit: '2kb', parameterLimit: 10 });

  router.get(`${CONSENT_PAGE_PATH}/:token`, (req: Request, res: Response) => {
    const view = deps.consents.approvalView(String(req.params.token));
    if (!view) return send(res, 404, NOT_FOUND());
    const { status, html } = renderApprovalView(view);
    send(res, status, html);
  });

  router.post(`${CONSENT_PAGE_PATH}/:token`, form, (req: Request, res: Response) => {
    const token = String(req.params.token);
    const view = deps.consents.approvalView(token);
    if (!view) return send(res, 404, NOT_FOUND());
    if (view.state !== 'open') {
      const { status, html } = renderApprovalView(view);
      return send(res, status, html);
    }
    const decision = (req.body as Record<string, unknown> | undefined)?.decision;
    if (decision !== 'grant' && decision !== 'refuse') {
      return send(res, 400, renderMessage('Please choose an answer', 'Go back and press either "Grant consent" or "Refuse".'));
    }
    try {
      const consent = deps.consents.decide(token, decision);
      send(res, 200, renderDecision(consent, view.holder));
    } catch (err) {
      // Lost a race with another answer or the expiry: show what the consent is now.
      if (err instanceof HedgerowError && err.httpStatus === 409) {
        const now = deps.consents.approvalView(token);
        if (now) {
          const { status, html } = renderApprovalView(now);
          return send(res, status, html);
        }
      }
      throw err;
    }
  });

  router.use(`${CONSENT_PAGE_PATH}`, (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return send(res, status, renderMessage('Request not understood', 'The answer could not be read. Go back and press one of the two buttons.'));
    }
    deps.logger?.error('consent page failed', { method: req.method, error: err instanceof Error ? err.message : String(err) });
    if (res.headersSent) return res.destroy();
    send(res, 500, renderMessage('Something went wrong', 'Your answer could not be processed. Please try again later.'));
  });
  return router;
}

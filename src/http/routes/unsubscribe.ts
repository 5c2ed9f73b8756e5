import express, { type Request, type Response, Router } from 'express';
import { suppressRecipient } from '../../commands/suppressions.js';
import { formatPosition } from '../../eventstore/port.js';
import type { Runtime } from '../../runtime.js';
import type { UnsubscribeSubject } from '../../secrets/unsubscribe-token.js';
import { HttpError } from '../errors.js';

const READ_YOUR_WRITES_TIMEOUT_MS = 5000;

/** The RFC 8058 body is tiny (`List-Unsubscribe=One-Click`); anything bigger is not a mail client's. */
const FORM_LIMIT = '4kb';

// Nothing here loads from elsewhere or may be framed; the token in the URL must not leak through a Referer.
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Robots-Tag': 'noindex',
};

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>` +
  `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}</style>` +
  `</head><body>${body}</body></html>`;

// The form has no action: it posts back to the URL it was served from, whatever prefix a proxy adds.
const CONFIRM_PAGE = page(
  'Unsubscribe',
  `<h1>Unsubscribe</h1><p>Stop receiving these emails?</p>` +
    `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
);
const DONE_PAGE = page('Unsubscribed', `<h1>You are unsubscribed</h1><p>You will not receive these emails any more.</p>`);

/**
 * One-click unsubscribe (RFC 8058), outside /api and before authentication: the mail provider posts from
 * anywhere, with no credentials and no loopback Host or Origin. The sealed token is the only authority, and
 * it can do one thing: suppress the recipient it names.
 */
export function unsubscribeRouter(rt: Runtime): Router {
  const r = Router();
  const subjectOf = (req: Request): UnsubscribeSubject => {
    const subject = rt.unsubscribeTokens.verify(String(req.params.token ?? ''));
    if (!subject) throw new HttpError(400, 'This unsubscribe link is not valid');
    return subject;
  };

  // Link scanners and previews fetch links: a GET only shows the button, and changes nothing.
  r.get('/unsubscribe/:token', (req, res) => {
    subjectOf(req);
    res.set(PAGE_HEADERS).type('html').send(CONFIRM_PAGE);
  });

  r.post('/unsubscribe/:token', express.urlencoded({ extended: false, limit: FORM_LIMIT, parameterLimit: 10 }), async (req, res) => {
    const subject = subjectOf(req);
    const { position } = await suppressRecipient(
      rt.store,
      { ...subject, source: 'unsubscribe', reason: 'one_click', createdBy: 'recipient' },
      rt.now(),
    );
    if (position) {
      res.setHeader('X-CRM-Position', formatPosition(position));
      // Bounded: the dispatcher reads the log, so the suppression holds at once; this is for the list's readers.
      await rt.engine.waitFor(position, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS });
    }
    reply(req, res);
  });
  return r;
}

/** A person's browser gets a page; a mail provider (or anything asking for JSON) a small JSON answer. */
function reply(req: Request, res: Response) {
  if (req.accepts(['json', 'html']) === 'html') res.status(200).set(PAGE_HEADERS).type('html').send(DONE_PAGE);
  else res.status(200).set('Cache-Control', 'no-store').json({ status: 'unsubscribed' });
}

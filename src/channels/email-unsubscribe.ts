/**
 * What an email carries so that its recipient can leave: the RFC 8058 one-click headers for mail providers,
 * a link a person can see in the body, and an RFC 2919 List-Id that names the list being left (Gmail's
 * bulk-sender guidelines ask for all three).
 */

/** Where a body wants its recipient's unsubscribe link; replaced at send time (the token is never stored). */
export const UNSUBSCRIBE_PLACEHOLDER = '{{unsubscribeUrl}}';

/** An outbox's `unsubscribeFooter`: `true` for the default words, or its own (each holding the placeholder). */
export type UnsubscribeFooter = true | { text?: string; html?: string };

const DEFAULT_FOOTER = {
  text: `\n\n--\nTo stop receiving these emails, unsubscribe: ${UNSUBSCRIBE_PLACEHOLDER}\n`,
  html: `<p style="font-size:12px;color:#666">To stop receiving these emails, <a href="${UNSUBSCRIBE_PLACEHOLDER}">unsubscribe</a>.</p>`,
};

/** Escaped for an HTML attribute value as well as for text: the link may land in `href="…"` or between tags. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Before `</body>` when the document has one (content after it is not part of the page), else at the end. */
function appendHtml(html: string, footer: string): string {
  const close = html.search(/<\/body\s*>/i);
  return close === -1 ? html + footer : html.slice(0, close) + footer + html.slice(close);
}

/**
 * The body as sent: each placeholder becomes the recipient's link (escaped in HTML), and with a footer option a
 * part (text or html) that shows no link gets the footer. Without a link (nothing to point at) placeholders are
 * dropped rather than sent as braces, and no footer is added.
 */
export function withUnsubscribeLink<P extends { text?: string; html?: string }>(
  payload: P,
  url: string | undefined,
  footer: UnsubscribeFooter | undefined,
): P {
  const words = footer === true ? DEFAULT_FOOTER : { ...DEFAULT_FOOTER, ...(footer ?? {}) };
  const fill = (part: string | undefined, link: string, append: (body: string, footer: string) => string, footerWords: string) => {
    if (part === undefined) return undefined;
    const body = url && footer && !part.includes(UNSUBSCRIBE_PLACEHOLDER) ? append(part, footerWords) : part;
    return body.replaceAll(UNSUBSCRIBE_PLACEHOLDER, link);
  };
  const text = fill(payload.text, url ?? '', (b, f) => b + f, words.text);
  const html = fill(payload.html, url ? escapeHtml(url) : '', appendHtml, words.html);
  return { ...payload, ...(text !== undefined ? { text } : {}), ...(html !== undefined ? { html } : {}) };
}

/** An RFC 2919 list-id (`list-label "." namespace`, dot-atom-text, at most 255 octets). */
export const LIST_ID = /^(?=.{3,255}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+$/;

/**
 * The List-Id of an outbox's mail, as nodemailer's `list.id` takes it (it quotes or encodes the phrase): the
 * outbox's own `listId`, else the outbox id under the sender's domain (a namespace the sender controls, as
 * RFC 2919 §2 asks). The sender's name is the human-readable phrase Gmail's guidelines ask for.
 */
/** The domain of the outbox's sender address, lower-cased: the namespace its List-Id and Message-IDs live under. */
export function senderDomain(fromAddress: string): string {
  return fromAddress.slice(fromAddress.lastIndexOf('@') + 1).toLowerCase();
}

export function listId(
  cfg: { listId?: string; fromAddress: string; fromName?: string },
  outboxId: string,
): { url: string; comment?: string } {
  const id = cfg.listId ?? `${outboxId}.${senderDomain(cfg.fromAddress)}`;
  return cfg.fromName ? { url: id, comment: cfg.fromName } : { url: id };
}

/** RFC 8058 one-click unsubscribe: the link, and the POST that mail providers make on the user's behalf. */
export function unsubscribeHeaders(url: string | undefined): Record<string, string> {
  if (!url) return {};
  return { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}

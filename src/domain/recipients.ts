import { domainToASCII, domainToUnicode } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import type { OutboxChannel } from './channels.js';

/**
 * One spelling per recipient and channel. A `to` is canonicalised once, before any check, and the canonical
 * form is what the allowlist and the suppressions see, what the activity records and what the adapter gets:
 * a check that compares one spelling while the provider delivers to another can be walked round (a comment,
 * a display name or a group in an email address all reach the same mailbox). So anything that is not plainly
 * one recipient is refused rather than interpreted.
 *
 * Pure: parsing only (nodemailer's address parser, the WHATWG URL parser, node's IDNA mapping).
 */

// ---------------------------------------------------------------------------------------------------------
// Email

/**
 * The local part as RFC 5321's Dot-string, in ASCII, less `%` and `!`: those are the old source-route hacks
 * (`ana%client.example@relay.example` may be relayed to `ana@client.example`). Quoted local parts and
 * internationalised (SMTPUTF8) ones are refused: the first hide a different mailbox behind quotes, the second
 * have several spellings (normalisation forms) that servers do not agree on.
 */
const LOCAL_PART = /^[A-Za-z0-9#$&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9#$&'*+/=?^_`{|}~-]+)*$/;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A domain in its ASCII (punycode) form, lower-cased: `Bücher.Example` and `xn--bcher-kva.example` are one
 * domain, as DNS sees it. Null for anything but a host name of two labels or more (no IP literal, no trailing
 * dot, no percent-encoding, which the URL host parser would decode and an SMTP server would not).
 */
export function canonicalDomain(raw: string): string | null {
  if (raw.length === 0 || raw.length > 253 || raw.includes('%')) return null;
  const ascii = domainToASCII(raw);
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => DNS_LABEL.test(l)) || /^\d+$/.test(labels.at(-1)!)) return null;
  return ascii;
}

/** `local@domain` with the domain canonical and the whole lower-cased; null when either half is malformed. */
function bareEmail(address: string): string | null {
  const at = address.indexOf('@');
  if (at <= 0 || at !== address.lastIndexOf('@')) return null;
  // A quoted local part whose content needs no quotes is that content (RFC 5321 4.1.2): `"ana"@x` is `ana@x`.
  const local = address.slice(0, at).replace(/^"([^"\\]*)"$/, '$1');
  if (local.length > 64 || !LOCAL_PART.test(local)) return null;
  const domain = canonicalDomain(address.slice(at + 1));
  if (!domain) return null;
  // Lower-cased whole, local part included: RFC 5321 lets a server tell `Ana` from `ana`, but none we send to
  // does (RFC 5321 itself discourages it), and a suppression must not be walked round by a capital letter.
  // Every suppression ever stored was lower-cased whole, so the stored entries keep matching.
  const out = `${local.toLowerCase()}@${domain}`;
  return out.length <= 254 ? out : null;
}

/**
 * The canonical email address `raw` is, or null unless it is exactly one bare address (surrounding
 * whitespace aside): no display name, comment, group, angle brackets, quotes, route or second address.
 * nodemailer's own parser decides what the SMTP server would get as RCPT; the address must be the whole input.
 */
export function canonicalEmail(raw: string): string | null {
  const t = raw.trim();
  if (t.length === 0 || t.length > 320) return null;
  const parsed = addressparser(t);
  if (parsed.length !== 1) return null;
  const one = parsed[0]!;
  if ('group' in one || one.name !== '' || one.address !== t) return null;
  return bareEmail(t);
}

/**
 * The one mailbox nodemailer would deliver `raw` to (display names, comments, groups and angle brackets
 * dropped), canonical; null when it names none or several. Only for suppressing, where reading a spelling
 * generously can only stop more mail: an unsubscribe token or a bounce from before recipients were
 * canonical names the address as the send spelled it.
 */
export function deliveredEmail(raw: string): string | null {
  if (raw.length > 2000) return null;
  const found = addressparser(raw.trim(), { flatten: true }).filter((a) => a.address !== '');
  return found.length === 1 ? bareEmail(found[0]!.address) : null;
}

// ---------------------------------------------------------------------------------------------------------
// Phone numbers and provider ids

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * E.164 as it is (`+33612345678`), or null: spaces, dashes, dots, brackets or a missing `+` are refused, not
 * repaired, since a repair would have to guess the country of a national number.
 */
export function canonicalPhone(raw: string): string | null {
  const t = raw.trim();
  return E164.test(t) ? t : null;
}

/** An Instagram-scoped user id (IGSID): digits only. */
export function canonicalIgsid(raw: string): string | null {
  const t = raw.trim();
  return /^\d{1,64}$/.test(t) ? t : null;
}

// ---------------------------------------------------------------------------------------------------------
// LinkedIn

/** LinkedIn member ids as Unipile gives them: classic (ACo…), Sales Navigator (ACw…), Recruiter (AE…). Case-sensitive. */
export const LINKEDIN_PROVIDER_ID = /^A(?:Co|Cw|E)[A-Za-z0-9_-]{20,}$/;
export const LINKEDIN_PROFILE_PREFIX = 'linkedin.com/in/';
const PUBLIC_IDENTIFIER = /^[\p{L}\p{M}\p{N}_.-]{1,100}$/u;
const LINKEDIN_URL = /^(?:https?:\/\/)?(?:[a-z0-9-]+\.)*linkedin\.com\//i;

/** The public identifier in a profile URL (`/in/<identifier>`, an optional trailing slash, query and fragment ignored). */
function profileIdentifier(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(/^https?:\/\//i.test(raw) ? raw : `https://${raw}`);
  } catch {
    return null;
  }
  if (u.username || u.password || u.port || !/^(?:[a-z0-9-]+\.)*linkedin\.com$/.test(u.hostname)) return null;
  const m = /^\/in\/([^/]+)\/?$/.exec(u.pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

/**
 * A LinkedIn member: their provider id as it is (`ACo…`, case-sensitive), or their profile as
 * `linkedin.com/in/<public identifier, lower-cased>`, from a profile URL in any of its spellings
 * (`https://www.linkedin.com/in/Ana-Doe/`, `linkedin.com/in/ana-doe`) or the bare identifier (`ana-doe`,
 * `@ana-doe`); LinkedIn's public identifiers are case-insensitive. Null for anything else (another site, a
 * company page, a path under the profile).
 */
export function canonicalLinkedIn(raw: string): string | null {
  const t = raw.trim();
  if (t.length === 0 || t.length > 2000) return null;
  if (LINKEDIN_PROVIDER_ID.test(t)) return t;
  let identifier: string | null;
  if (LINKEDIN_URL.test(t)) identifier = profileIdentifier(t);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(t) || t.includes('/')) return null;
  else identifier = t.replace(/^@/, '');
  if (!identifier) return null;
  // LinkedIn also serves a profile under its member id (`/in/ACoAA…`).
  if (LINKEDIN_PROVIDER_ID.test(identifier)) return identifier;
  const slug = identifier.normalize('NFC').toLowerCase();
  return PUBLIC_IDENTIFIER.test(slug) ? LINKEDIN_PROFILE_PREFIX + slug : null;
}

// ---------------------------------------------------------------------------------------------------------
// Per channel

/** What a `to` must be on each channel, for error messages. */
export const RECIPIENT_FORMS: Record<OutboxChannel, string> = {
  email: 'one bare email address (name@example.com: no display name, comment, group, quotes or angle brackets)',
  'cal-com': "the attendee's bare email address (name@example.com)",
  whatsapp: 'an E.164 number (+33612345678: no spaces or dashes)',
  instagram: "the person's Instagram-scoped id (IGSID: digits)",
  linkedin: 'a LinkedIn member id (ACo…), a profile URL (linkedin.com/in/<identifier>) or a public identifier',
};

/** The canonical `to` of a send on `channel`, or null: the send is a 400, before anything is written. */
export function canonicalRecipient(channel: OutboxChannel, raw: string): string | null {
  switch (channel) {
    case 'email':
    case 'cal-com':
      return canonicalEmail(raw);
    case 'whatsapp':
      return canonicalPhone(raw);
    case 'instagram':
      return canonicalIgsid(raw);
    case 'linkedin':
      return canonicalLinkedIn(raw);
  }
}

/**
 * The form a recipient is compared and stored in by the allowlist and the suppressions: the canonical form,
 * case folded (a no-op for all but LinkedIn provider ids, which were always compared that way; two members
 * whose ids differ only in case are not a risk worth a second form).
 */
export const recipientKey = (canonical: string) => canonical.toLowerCase();

/**
 * Every key a recipient is known under: its canonical `to` and the other names a provider resolved for it.
 * A LinkedIn member id is also their profile (`linkedin.com/in/ACoAA…`), which is how an entry that wrote the
 * id in lower case reads.
 */
export function recipientKeys(channel: OutboxChannel, to: string, aliases: readonly string[] = []): string[] {
  const keys = [to, ...aliases].map(recipientKey);
  if (channel === 'linkedin') for (const k of [...keys]) if (!k.startsWith(LINKEDIN_PROFILE_PREFIX)) keys.push(LINKEDIN_PROFILE_PREFIX + k);
  return [...new Set(keys)];
}

/**
 * The keys whose suppressions forbid a send to `keys`: the keys, a subaddress's own mailbox
 * (`ana+news@client.example` is delivered to `ana@`'s inbox by most servers), and the spellings suppressions
 * were stored under before recipients were canonical (an IDN domain in Unicode, a LinkedIn identifier bare),
 * whose streams are named by those spellings.
 */
export function suppressionKeysFor(channel: OutboxChannel, keys: readonly string[]): string[] {
  const out = new Set(keys);
  for (const key of keys) {
    if (channel === 'email' || channel === 'cal-com') {
      const at = key.lastIndexOf('@');
      if (at <= 0) continue;
      const local = key.slice(0, at);
      const domain = key.slice(at + 1);
      const locals = local.includes('+') && local.indexOf('+') > 0 ? [local, local.slice(0, local.indexOf('+'))] : [local];
      const domains = domain.split('.').some((l) => l.startsWith('xn--')) ? [domain, domainToUnicode(domain)] : [domain];
      for (const l of locals) for (const d of domains) if (d) out.add(`${l}@${d}`);
    } else if (channel === 'linkedin' && key.startsWith(LINKEDIN_PROFILE_PREFIX)) {
      out.add(key.slice(LINKEDIN_PROFILE_PREFIX.length));
    }
  }
  return [...out];
}

/**
 * The key a suppression is stored under, or null when `raw` is no recipient of that channel. Without a
 * channel (every channel) the form decides: `+…` a phone number, digits an IGSID, `x@y` an email, anything
 * else a LinkedIn member. `generous` reads an email as nodemailer would deliver it (see `deliveredEmail`):
 * for the system's own sources (unsubscribes, bounces), never for a person's entry, which is refused instead
 * so that they see what they typed is not an address.
 */
export function suppressionKey(raw: string, channel: OutboxChannel | null, generous = false): string | null {
  const email = () => (generous ? deliveredEmail(raw) : canonicalEmail(raw));
  const t = raw.trim();
  let canonical: string | null;
  if (channel === 'email' || channel === 'cal-com') canonical = email();
  else if (channel !== null) canonical = canonicalRecipient(channel, raw);
  else if (t.startsWith('+')) canonical = canonicalPhone(t);
  else if (/^\d+$/.test(t)) canonical = canonicalIgsid(t);
  else if (t.indexOf('@') > 0 && !LINKEDIN_URL.test(t)) canonical = email();
  else canonical = canonicalLinkedIn(t);
  return canonical === null ? null : recipientKey(canonical);
}

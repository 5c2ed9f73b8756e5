/**
 * An SMTP server's reply, as it may be kept on an activity. One reply code covers refusals that call for
 * different actions ("550 relaying denied" is our relay's setup, "550 5.1.1 user unknown" the address), so the
 * server's words and its enhanced status code are kept; but a server may echo what it was sent, AUTH data
 * included, so the reply is cut to one short printable line with the credential taken out.
 */

/** Long enough for the reasons servers give (RFC 5321 allows 512 octets a line), short enough to show in a list. */
export const MAX_REPLY_CHARS = 300;

/** The RFC 3463 enhanced status code that follows the reply code (`550 5.1.1 …`, also on a `550-` line). */
export function enhancedStatusOf(response: string | undefined): string | undefined {
  return /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?![\d.])/.exec(response ?? '')?.[1];
}

/** The credential in every form an SMTP session carries it: as written, and base64 as AUTH PLAIN and LOGIN send it. */
function credentialForms(user: string, pass: string): string[] {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const forms = [pass, b64(pass), encodeURIComponent(pass), b64(`\u0000${user}\u0000${pass}`), b64(`${user}\u0000${user}\u0000${pass}`)];
  // The user name alone is AUTH data too (AUTH LOGIN's first answer); a one- or two-letter name would mask words.
  if (user.length >= 3) forms.push(user, b64(user), encodeURIComponent(user));
  // The base64 of a string, seen inside a longer base64 run, may end in fewer '=' or none.
  return [...new Set(forms.flatMap((f) => [f, f.replace(/=+$/, '')]))].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

/** The reply as kept: one line of printable characters, without the credential, at most MAX_REPLY_CHARS. */
export function keptReply(response: string | undefined, credential: { user: string; pass: string } | undefined): string | undefined {
  if (!response) return undefined;
  let line = response.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  for (const form of credential ? credentialForms(credential.user, credential.pass) : []) line = line.split(form).join('[redacted]');
  line = line.replace(/\s+/g, ' ').trim();
  return line.length > MAX_REPLY_CHARS ? `${line.slice(0, MAX_REPLY_CHARS - 1)}…` : line;
}

import fc from 'fast-check';
import addressparser from 'nodemailer/lib/addressparser';
import { describe, expect, it } from 'vitest';
import {
  canonicalDomain,
  canonicalEmail,
  canonicalLinkedIn,
  canonicalRecipient,
  deliveredEmail,
  recipientKeys,
  suppressionKey,
  suppressionKeysFor,
} from '../../src/domain/recipients.js';

/** Spellings nodemailer delivers to `local@domain` (RCPT TO), which must never read as another recipient. */
const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,8}$/);
const recased = (s: string) =>
  fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
const TARGETS = [
  { local: 'ana', domains: ['client.example'], canonical: 'ana@client.example' },
  { local: 'jo.doe', domains: ['xn--bcher-kva.example', 'bücher.example'], canonical: 'jo.doe@xn--bcher-kva.example' },
] as const;
export const deliveredSpelling = fc.constantFrom(...TARGETS).chain((t) =>
  fc
    .record({
      local: recased(t.local).chain((l) => fc.constantFrom(l, `"${l}"`)),
      domain: fc.constantFrom(...t.domains).chain(recased),
      text: word,
      wrap: fc.integer({ min: 0, max: 9 }),
      before: fc.constantFrom('', ' ', '\t', '  ', '\n'),
      after: fc.constantFrom('', ' ', '\t', '\r\n'),
    })
    .map(({ local, domain, text, wrap, before, after }) => {
      const a = `${local}@${domain}`;
      const wrapped = [
        a,
        `<${a}>`,
        `${text} <${a}>`,
        `"${text}" <${a}>`,
        `(${text})${a}`,
        `${a} (${text})`,
        `${text}: ${a};`,
        `${text}:${a}`,
        `x<${a}`,
        `<${a}> (${text})`,
      ][wrap]!;
      return { spelling: `${before}${wrapped}${after}`, canonical: t.canonical };
    }),
);

describe('canonical email addresses', () => {
  it('accepts exactly one bare address: domain in punycode, the whole lower-cased, whitespace around trimmed', () => {
    expect(canonicalEmail('ana@client.example')).toBe('ana@client.example');
    expect(canonicalEmail('  Ana.Doe+Q3@Client.Example\n')).toBe('ana.doe+q3@client.example');
    expect(canonicalEmail('jo@Bücher.example')).toBe('jo@xn--bcher-kva.example');
    expect(canonicalEmail('jo@xn--bcher-kva.example')).toBe('jo@xn--bcher-kva.example');
    expect(canonicalEmail("o'brien@client.example")).toBe("o'brien@client.example");
  });

  it('refuses what is more than an address, or another mailbox behind one', () => {
    for (const raw of [
      '(x)ana@client.example',
      '"ana"@client.example',
      'g:ana@client.example',
      'g: ana@client.example;',
      'x<ana@client.example',
      'Ana <ana@client.example>',
      '<ana@client.example>',
      'ana@client.example (work)',
      'ana@client.example, bob@client.example',
      'ana@client.example;bob@client.example',
      '<@relay.example:ana@client.example>',
      'ana%client.example@relay.example',
      'ana!client.example@relay.example',
      '"a b"@client.example',
      'ana@@client.example',
      'ana@x@client.example',
      'ana@[192.0.2.1]',
      'ana@client',
      'ana@client.example.',
      'ana@client..example',
      'ana@-client.example',
      'ana@client%2eexample',
      'ana@192.0.2.1',
      'ána@client.example',
      '.ana@client.example',
      'ana.@client.example',
      'a..na@client.example',
      `${'a'.repeat(65)}@client.example`,
      '',
      '   ',
    ]) {
      expect(canonicalEmail(raw), raw).toBeNull();
    }
  });

  it('is what nodemailer would send to: a canonical address parses back as itself', () => {
    fc.assert(
      fc.property(deliveredSpelling, ({ spelling }) => {
        const c = canonicalEmail(spelling);
        if (c === null) return;
        expect(addressparser(c)).toEqual([{ name: '', address: c }]);
        expect(canonicalEmail(c)).toBe(c);
      }),
      { numRuns: 2000 },
    );
  });

  it('never reads a spelling delivered to one mailbox as another: it is refused, or that mailbox', () => {
    fc.assert(
      fc.property(deliveredSpelling, ({ spelling, canonical }) => {
        expect([null, canonical]).toContain(canonicalEmail(spelling));
        // Read as delivered (for suppressing), every spelling is the mailbox.
        expect(deliveredEmail(spelling)).toBe(canonical);
      }),
      { numRuns: 2000 },
    );
  });

  it('domains: punycode, lower case, host names only', () => {
    expect(canonicalDomain('Bücher.Example')).toBe('xn--bcher-kva.example');
    expect(canonicalDomain('ＣＬＩＥＮＴ.example')).toBe('client.example');
    for (const raw of ['client', 'client.example.', '[192.0.2.1]', 'a_b.example', 'xn--zz.example', 'client.123', ''])
      expect(canonicalDomain(raw), raw).toBeNull();
  });
});

describe('canonical recipients per channel', () => {
  it('phones are E.164 as written, nothing repaired', () => {
    expect(canonicalRecipient('whatsapp', ' +33612345678 ')).toBe('+33612345678');
    for (const raw of ['+33 6 12 34 56 78', '+33-612-345-678', '0612345678', '33612345678', '+(33)612345678', '+0612345678']) {
      expect(canonicalRecipient('whatsapp', raw), raw).toBeNull();
    }
  });

  it('Instagram ids are digits', () => {
    expect(canonicalRecipient('instagram', '7012345678901234')).toBe('7012345678901234');
    expect(canonicalRecipient('instagram', '@jane.doe')).toBeNull();
  });

  it('a LinkedIn profile in any spelling is one recipient; a member id keeps its case', () => {
    for (const raw of [
      'ana-doe',
      '@Ana-Doe',
      'https://www.linkedin.com/in/ana-doe/',
      'linkedin.com/in/Ana-Doe',
      'http://fr.linkedin.com/in/ana-doe?trk=x#top',
      'www.linkedin.com/in/ANA-DOE',
    ]) {
      expect(canonicalLinkedIn(raw), raw).toBe('linkedin.com/in/ana-doe');
    }
    expect(canonicalLinkedIn('https://www.linkedin.com/in/J%C3%BCrgen-M/')).toBe('linkedin.com/in/jürgen-m');
    const id = 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E';
    expect(canonicalLinkedIn(id)).toBe(id);
    expect(canonicalLinkedIn(`https://www.linkedin.com/in/${id}`)).toBe(id);
    for (const raw of [
      'https://example.com/in/ana',
      'https://evillinkedin.com/in/ana',
      'https://www.linkedin.com/company/acme',
      'https://www.linkedin.com/in/ana/details/',
      'https://u:p@linkedin.com/in/ana',
      'ana doe',
      'javascript:alert(1)',
      'ana@client.example',
    ]) {
      expect(canonicalLinkedIn(raw), raw).toBeNull();
    }
  });

  it('keys fold case; a member id is also the profile under that id', () => {
    expect(recipientKeys('linkedin', 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E', ['linkedin.com/in/ana-doe'])).toEqual([
      'acoaaacdmmqbodylwzrrcgyhrkcafurgqva0u4e',
      'linkedin.com/in/ana-doe',
      'linkedin.com/in/acoaaacdmmqbodylwzrrcgyhrkcafurgqva0u4e',
    ]);
    expect(recipientKeys('email', 'ana@client.example')).toEqual(['ana@client.example']);
  });

  it('suppressions are consulted for the mailbox of a subaddress, and under the spellings stored before', () => {
    expect(suppressionKeysFor('email', ['ana+q3@xn--bcher-kva.example']).sort()).toEqual(
      ['ana+q3@xn--bcher-kva.example', 'ana+q3@bücher.example', 'ana@xn--bcher-kva.example', 'ana@bücher.example'].sort(),
    );
    expect(suppressionKeysFor('linkedin', ['linkedin.com/in/ana-doe'])).toEqual(['linkedin.com/in/ana-doe', 'ana-doe']);
    expect(suppressionKeysFor('whatsapp', ['+33612345678'])).toEqual(['+33612345678']);
  });

  it('a suppression without a channel takes its kind from its form', () => {
    expect(suppressionKey('+33612345678', null)).toBe('+33612345678');
    expect(suppressionKey('7012345678901234', null)).toBe('7012345678901234');
    expect(suppressionKey('Ana@Client.Example', null)).toBe('ana@client.example');
    expect(suppressionKey('https://www.linkedin.com/in/Ana-Doe/', null)).toBe('linkedin.com/in/ana-doe');
    expect(suppressionKey('Ana <ana@client.example>', null)).toBeNull();
    expect(suppressionKey('Ana <ana@client.example>', null, true)).toBe('ana@client.example');
  });
});

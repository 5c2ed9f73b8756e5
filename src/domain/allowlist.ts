import type { SendChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';
import {
  LINKEDIN_PROFILE_PREFIX,
  canonicalDomain,
  canonicalEmail,
  canonicalIgsid,
  canonicalLinkedIn,
  canonicalPhone,
  recipientKey,
} from './recipients.js';

/** One allowlist per company, read whole on every send (from the cache: see AggregateCache). */
export const allowlistStream = (companyId: string) => `crm_allowlist-${companyId}`;

/**
 * Bounds of one company's allowlist. Every send scans the entries and every instance keeps them in memory,
 * so an allowlist that grew without bound would slow every company's sends, not only its owner's.
 */
export const ALLOWLIST_LIMITS = { entries: 5_000, patternLength: 500, noteLength: 1_000 } as const;

export interface AllowlistEntry {
  entryId: string;
  pattern: string;
  channel: SendChannel | null;
  note: string | null;
  createdAt: string;
  createdBy: string;
}

export type AllowlistCommand =
  | { type: 'AddAllowlistEntry'; companyId: string; entry: AllowlistEntry }
  | { type: 'RemoveAllowlistEntry'; companyId: string; entryId: string; actor: string; now: string };

export type AllowlistEvent =
  | DomainEvent<'AllowlistEntryAdded', { companyId: string; entry: AllowlistEntry }>
  | DomainEvent<'AllowlistEntryRemoved', { companyId: string; entryId: string; removedBy: string; removedAt: string }>;

export type AllowlistState = { entries: Map<string, AllowlistEntry> };

function evolveMany(state: AllowlistState, events: readonly AllowlistEvent[]): AllowlistState {
  const entries = new Map(state.entries);
  for (const event of events) {
    if (event.type === 'AllowlistEntryAdded') entries.set(event.data.entry.entryId, event.data.entry);
    else entries.delete(event.data.entryId);
  }
  return { entries };
}

export const allowlistDecider: Decider<AllowlistCommand, AllowlistState, AllowlistEvent> = {
  initialState: () => ({ entries: new Map() }),
  evolve: (state, event) => evolveMany(state, [event]),
  evolveMany,
  decide(command, state) {
    if (command.type === 'AddAllowlistEntry') {
      const { pattern, note } = command.entry;
      if (pattern.length > ALLOWLIST_LIMITS.patternLength) {
        throw new DomainError('invalid_input', `pattern is longer than ${ALLOWLIST_LIMITS.patternLength} characters`);
      }
      if (note !== null && note.length > ALLOWLIST_LIMITS.noteLength) {
        throw new DomainError('invalid_input', `note is longer than ${ALLOWLIST_LIMITS.noteLength} characters`);
      }
      const same = [...state.entries.values()].find((e) => e.pattern === pattern && e.channel === command.entry.channel);
      if (same) throw new DomainError('conflict', 'this pattern is already allowed', { existingId: same.entryId });
      if (state.entries.size >= ALLOWLIST_LIMITS.entries) {
        throw new DomainError(
          'invalid_state',
          `the allowlist is full: a company may have ${ALLOWLIST_LIMITS.entries} entries; remove some first (a domain pattern such as *@client.example covers many addresses)`,
          {
            limit: ALLOWLIST_LIMITS.entries,
          },
        );
      }
      return [{ type: 'AllowlistEntryAdded', data: { companyId: command.companyId, entry: command.entry } }];
    }
    if (!state.entries.has(command.entryId)) throw new DomainError('not_found', 'allowlist entry not found');
    return [
      {
        type: 'AllowlistEntryRemoved',
        data: { companyId: command.companyId, entryId: command.entryId, removedBy: command.actor, removedAt: command.now },
      },
    ];
  },
};

// ---------------------------------------------------------------------------------------------------------
// Patterns

export type PatternKind = 'everyone' | 'email' | 'domain' | 'phone' | 'url' | 'handle';

/**
 * Classifies an allowlist pattern and gives it the canonical form of the recipients it names (see
 * src/domain/recipients.ts), so that it compares with their keys as it is; null when it is none of the
 * accepted forms. Idempotent: a stored pattern reads back as itself.
 * - `*`; `*@domain.tld` (the domain in punycode, lower-cased); an email address; an E.164 number;
 * - a LinkedIn member: a profile URL in any spelling, or a bare public identifier (`ana-doe`, `@ana-doe`),
 *   both as `linkedin.com/in/ana-doe` (kind `url`); a member id (kind `handle`, in its case);
 * - digits: an Instagram IGSID (kind `handle`).
 * Any other URL names no recipient of ours, and is refused.
 */
export function normalizePattern(raw: string): { kind: PatternKind; pattern: string } | null {
  const p = raw.trim();
  if (p === '*') return { kind: 'everyone', pattern: '*' };
  if (p.startsWith('*@')) {
    const domain = canonicalDomain(p.slice(2));
    return domain ? { kind: 'domain', pattern: `*@${domain}` } : null;
  }
  if (p.includes('*')) return null;
  const phone = canonicalPhone(p);
  if (phone) return { kind: 'phone', pattern: phone };
  const igsid = canonicalIgsid(p);
  if (igsid) return { kind: 'handle', pattern: igsid };
  if (p.indexOf('@') > 0) {
    const email = canonicalEmail(p);
    return email ? { kind: 'email', pattern: email } : null;
  }
  const member = canonicalLinkedIn(p);
  if (!member) return null;
  return { kind: member.startsWith(LINKEDIN_PROFILE_PREFIX) ? 'url' : 'handle', pattern: member };
}

/**
 * Stored patterns canonicalised once per entry: entries written before patterns were canonical (a Unicode
 * domain, `www.linkedin.com/in/ana/`, a bare identifier) match as if they had been, without a rewrite of the log.
 */
const canonicalPatterns = new WeakMap<AllowlistEntry, { kind: PatternKind; key: string } | null>();
function patternOf(e: AllowlistEntry) {
  if (!canonicalPatterns.has(e)) {
    const p = normalizePattern(e.pattern);
    canonicalPatterns.set(e, p && { kind: p.kind, key: recipientKey(p.pattern) });
  }
  return canonicalPatterns.get(e)!;
}

/**
 * The first entry that allows a recipient on `channel` (for a dry run: the outbox's), or null: no entry, not
 * allowed. `keys` are the recipient's keys (`recipientKeys`): its canonical `to`, and for a LinkedIn member the
 * provider id and the profile both; any of them allowed allows the member.
 */
export function allowedBy(entries: Iterable<AllowlistEntry>, keys: readonly string[], channel: SendChannel): AllowlistEntry | null {
  for (const e of entries) {
    if (e.channel !== null && e.channel !== channel) continue;
    const p = patternOf(e);
    if (!p) continue;
    if (p.kind === 'everyone') return e;
    for (const key of keys) {
      if (p.kind === 'domain' ? key.indexOf('@') > 0 && key.slice(key.lastIndexOf('@')) === p.key.slice(1) : p.key === key) return e;
    }
  }
  return null;
}

import { E164_NUMBER, EMAIL_ADDRESS, type SendChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';

/** One allowlist per company: small, read whole on every send. */
export const allowlistStream = (companyId: string) => `crm_allowlist-${companyId}`;

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

export const allowlistDecider: Decider<AllowlistCommand, AllowlistState, AllowlistEvent> = {
  initialState: () => ({ entries: new Map() }),
  evolve(state, event) {
    const entries = new Map(state.entries);
    if (event.type === 'AllowlistEntryAdded') entries.set(event.data.entry.entryId, event.data.entry);
    else entries.delete(event.data.entryId);
    return { entries };
  },
  decide(command, state) {
    if (command.type === 'AddAllowlistEntry') {
      const same = [...state.entries.values()].find((e) => e.pattern === command.entry.pattern && e.channel === command.entry.channel);
      if (same) throw new DomainError('conflict', 'this pattern is already allowed', { existingId: same.entryId });
      return [{ type: 'AllowlistEntryAdded', data: { companyId: command.companyId, entry: command.entry } }];
    }
    if (!state.entries.has(command.entryId)) throw new DomainError('not_found', 'allowlist entry not found');
    return [{ type: 'AllowlistEntryRemoved', data: { companyId: command.companyId, entryId: command.entryId, removedBy: command.actor, removedAt: command.now } }];
  },
};

// ---------------------------------------------------------------------------------------------------------
// Patterns

const HANDLE = /^@?[A-Za-z0-9._-]{1,100}$/;
const STORED_URL = /^[a-z0-9-]+(?:\.[a-z0-9-]+)+\/\S*$/i;

export type PatternKind = 'everyone' | 'email' | 'domain' | 'phone' | 'url' | 'handle';

/** Classifies and normalises an allowlist pattern; null when it is none of the accepted forms. */
export function normalizePattern(raw: string): { kind: PatternKind; pattern: string } | null {
  const p = raw.trim();
  if (p === '*') return { kind: 'everyone', pattern: '*' };
  if (/^\*@[^\s@*]+\.[^\s@*]+$/.test(p)) return { kind: 'domain', pattern: p.toLowerCase() };
  if (EMAIL_ADDRESS.test(p) && !p.includes('*')) return { kind: 'email', pattern: p.toLowerCase() };
  if (E164_NUMBER.test(p)) return { kind: 'phone', pattern: p };
  if (/^https?:\/\/\S+$/i.test(p)) return { kind: 'url', pattern: normalizeUrl(p) };
  // A URL pattern is stored normalised (`linkedin.com/in/ana`): it must read back as a URL to ever match.
  if (STORED_URL.test(p)) return { kind: 'url', pattern: p.toLowerCase() };
  if (HANDLE.test(p)) return { kind: 'handle', pattern: p.replace(/^@/, '').toLowerCase() };
  return null;
}

function normalizeUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.hostname.replace(/^www\./, '').toLowerCase()}${url.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return u.toLowerCase();
  }
}

/** Normalises a recipient the way patterns are, so that they compare. */
export function normalizeRecipient(to: string): string {
  const t = to.trim();
  if (/^https?:\/\//i.test(t)) return normalizeUrl(t);
  if (EMAIL_ADDRESS.test(t)) return t.toLowerCase();
  if (E164_NUMBER.test(t.replace(/[\s()-]/g, ''))) return t.replace(/[\s()-]/g, '');
  return t.replace(/^@/, '').toLowerCase();
}

/** The first entry that allows `to` on `channel` (for a dry run: the outbox's), or null: no entry, not allowed. */
export function allowedBy(entries: Iterable<AllowlistEntry>, to: string, channel: SendChannel): AllowlistEntry | null {
  const recipient = normalizeRecipient(to);
  for (const e of entries) {
    if (e.channel !== null && e.channel !== channel) continue;
    const p = normalizePattern(e.pattern);
    if (!p) continue;
    if (p.kind === 'everyone') return e;
    if (p.kind === 'domain' && recipient.includes('@') && recipient.endsWith(p.pattern.slice(1))) return e;
    if (p.pattern === recipient) return e;
  }
  return null;
}

import { describe, expect, it } from 'vitest';
import { hookMatches, parseHookRegistry } from '../../src/hooks/registry.js';

const REF = 'secret://0b3c5d1e-1234-4abc-9def-0123456789ab:latest';

describe('the post-issue hooks registry file', () => {
  it('parses a valid registry', () => {
    const r = parseHookRegistry(`hooks:
  - name: coverage
    on: { statuses: [done], labels: [marketing] }
    action: brand-voice-coverage
  - name: notify
    action: webhook
    url: https://hooks.example.com/x
    secretRef: ${REF}
`);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.registry.hooks.map((h) => h.name)).toEqual(['coverage', 'notify']);
      expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('reports a YAML syntax error with its line and column', () => {
    const r = parseHookRegistry('hooks:\n  - name: a\n    action: [unclosed\n');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems[0]!.line).toBeGreaterThanOrEqual(3);
      expect(r.problems[0]!.column).toBeGreaterThan(0);
    }
  });

  it.each([
    ['an unknown action', 'hooks:\n  - name: a\n    action: email-everyone\n', 3],
    ['a webhook without url', `hooks:\n  - name: a\n    action: webhook\n    secretRef: ${REF}\n`, 2],
    ['a bad secretRef', 'hooks:\n  - name: a\n    action: webhook\n    url: https://x.example\n    secretRef: nope\n', 5],
    ['a duplicate name', 'hooks:\n  - name: a\n    action: brand-voice-coverage\n  - name: a\n    action: brand-voice-coverage\n', 4],
    ['an unknown key', 'hooks:\n  - name: a\n    action: brand-voice-coverage\n    when: always\n', 2],
    ['no hooks list', 'something: else\n', 1],
  ])('reports %s at its line', (_what, text, line) => {
    const r = parseHookRegistry(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]!.line).toBe(line);
  });

  it('refuses a YAML alias bomb as a problem, not a crash', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      ),
      'hooks: []',
    ].join('\n');
    const r = parseHookRegistry(bomb);
    expect(r.ok).toBe(false);
  });

  it('matches a hook without `on` always, with `on` by one status and all labels', () => {
    const always = { name: 'a', action: 'brand-voice-coverage' as const };
    const scoped = { ...always, on: { statuses: ['done', 'closed'], labels: ['marketing', 'q3'] } };
    expect(hookMatches(always, { status: 'open', labels: [] })).toBe(true);
    expect(hookMatches(scoped, { status: 'done', labels: ['q3', 'marketing', 'x'] })).toBe(true);
    expect(hookMatches(scoped, { status: 'done', labels: ['marketing'] })).toBe(false);
    expect(hookMatches(scoped, { status: 'open', labels: ['marketing', 'q3'] })).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/http/cursor.js';
import { keysetPage } from '../../src/projections/keyset-page.js';

describe('keyset cursors', () => {
  it('decode what a page encodes, lower-casing the id', () => {
    const createdAt = new Date('2026-03-01T10:00:00.123Z');
    const id = '0F8FAD5B-D9CB-469F-A165-70867728950E';
    expect(decodeCursor(encodeCursor({ createdAt, id }))).toEqual({ createdAt, id: id.toLowerCase() });
    const rows = [0, 1, 2].map((n) => ({ id: `0f8fad5b-d9cb-469f-a165-7086772895${n}e`, created_at: new Date(Date.UTC(2026, 2, 1, n)) }));
    const page = keysetPage(rows, 2, (r) => r.id);
    expect(page.items).toEqual([rows[0]!.id, rows[1]!.id]);
    expect(decodeCursor(page.nextCursor!)).toEqual({ createdAt: rows[1]!.created_at, id: rows[1]!.id });
    expect(keysetPage(rows, 3, (r) => r.id).nextCursor).toBeNull();
  });

  it('refuse anything else as a 400', () => {
    expect(() => decodeCursor(Buffer.from('["yesterday","x"]').toString('base64url'))).toThrow(/cursor is not one this API gave/);
  });
});

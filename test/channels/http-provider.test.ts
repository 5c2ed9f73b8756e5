import { describe, expect, it } from 'vitest';
import { joinUrl, retryAfterMs } from '../../src/channels/http-provider.js';

describe('the shared provider HTTP mechanics', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs('0', now)).toBe(0);
    expect(retryAfterMs(' 3 ', now)).toBe(3_000);
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:02 GMT', now)).toBe(2_000);
    expect(retryAfterMs('Mon, 31 Dec 2029 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeNull();
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs('-1', now)).toBeNull();
  });

  it('joins a base URL with or without its trailing slash', () => {
    expect(joinUrl('https://api1.unipile.com:13111', 'api/v1/chats')).toBe('https://api1.unipile.com:13111/api/v1/chats');
    expect(joinUrl('http://127.0.0.1:9/prefix/', '/v2/bookings')).toBe('http://127.0.0.1:9/prefix/v2/bookings');
  });
});

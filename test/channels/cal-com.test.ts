import { afterEach, describe, expect, it } from 'vitest';
import { CAL_COM_BOOKINGS_API_VERSION, calComAdapter } from '../../src/channels/cal-com.js';
import type { OutboxForAdapter } from '../../src/channels/port.js';
import { channelFailure } from '../support/channel-error.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

const KEY = 'cal_live_0123456789abcdef';
const outbox = (baseUrl: string, extra: Record<string, unknown> = {}): OutboxForAdapter => ({
  outboxId: 'o1',
  companyId: 'c1',
  channel: 'cal-com',
  config: { eventTypeId: 4219620, baseUrl, ...extra },
});
const booking = (over: Record<string, unknown> = {}) => ({
  activityId: 'act-1',
  to: 'ana@example.org',
  payload: {
    start: '2030-03-10T11:00:00+02:00',
    attendee: { name: 'Ana Martin', email: 'Ana@example.org', timeZone: 'Europe/Paris' },
    ...over,
  },
  idempotencyKey: 'act-1',
});
const ok = {
  status: 'success',
  data: { id: 123, uid: 'bk_8f2c1e', title: 'Intro', status: 'accepted', start: '2030-03-10T09:00:00.000Z' },
};

describe('the cal.com bookings adapter', () => {
  let server: Awaited<ReturnType<typeof fakeHttpServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('books with POST /v2/bookings: bearer key, cal-api-version, start in UTC, the dedup key in metadata', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 201, ok));
    const sent = await calComAdapter().send(outbox(`${server.url}/`), KEY, booking({ lengthInMinutes: 30 }));
    expect(sent).toEqual({ providerMessageId: 'bk_8f2c1e' });
    expect(server.received).toHaveLength(1);
    const r = server.received[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/v2/bookings');
    expect(r.headers.authorization).toBe(`Bearer ${KEY}`);
    // The version cal.com documents for POST /v2/bookings: `@ApiHeader({ name: "cal-api-version", description:
    // "Must be set to 2026-02-25." })` on its controller (calcom/cal.com:
    // apps/api/v2/src/ee/bookings/2026-02-25/controllers/bookings.controller.ts), same input and `{status, data}` output.
    expect(r.headers['cal-api-version']).toBe('2026-02-25');
    expect(CAL_COM_BOOKINGS_API_VERSION).toBe('2026-02-25');
    expect(JSON.parse(r.body)).toEqual({
      eventTypeId: 4219620,
      start: '2030-03-10T09:00:00.000Z',
      attendee: { name: 'Ana Martin', email: 'ana@example.org', timeZone: 'Europe/Paris' },
      lengthInMinutes: 30,
      metadata: { crmActivityId: 'act-1' },
    });
  });

  it('an outbox may pin another cal-api-version', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 201, ok));
    await calComAdapter().send(outbox(server.url, { apiVersion: '2024-08-13' }), KEY, booking());
    expect(server.received[0]!.headers['cal-api-version']).toBe('2024-08-13');
  });

  it('refuses a booking whose attendee is not the allowlisted recipient, before any request', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 201, ok));
    const err = await channelFailure(calComAdapter().send(outbox(server.url), KEY, { ...booking(), to: 'other@example.org' }));
    expect(err).toMatchObject({ code: 'calcom_attendee_mismatch', refundable: true });
    expect(server.received).toHaveLength(0);
  });

  it('a 400 is permanent: calcom_400 with cal.com message, one request', async () => {
    server = await fakeHttpServer((_req, res) =>
      json(res, 400, {
        status: 'error',
        timestamp: '2030-01-01T00:00:00.000Z',
        path: '/v2/bookings',
        error: { code: 'BadRequestException', message: 'User either already has booking at this time or is not available' },
      }),
    );
    const err = await channelFailure(calComAdapter().send(outbox(server.url), KEY, booking()));
    expect(err).toMatchObject({ code: 'calcom_400', transient: false, refundable: true });
    expect(err.message).toContain('not available');
    expect(err.message).not.toContain(KEY);
    expect(server.received).toHaveLength(1);
  });

  it('a 503 with Retry-After: 0 then 201: booked on the second request', async () => {
    server = await fakeHttpServer((_req, res) =>
      server!.received.length === 1
        ? json(res, 503, { status: 'error', error: { code: 'ServiceUnavailable', message: 'try later' } }, { 'retry-after': '0' })
        : json(res, 201, ok),
    );
    const sent = await calComAdapter().send(outbox(server.url), KEY, booking());
    expect(sent.providerMessageId).toBe('bk_8f2c1e');
    expect(server.received).toHaveLength(2);
  });

  it('a 429 without end: three requests (two retries), then calcom_429, transient and refundable', async () => {
    server = await fakeHttpServer((_req, res) =>
      json(res, 429, { status: 'error', error: { code: 'TooManyRequestsException', message: 'slow down' } }, { 'retry-after': '0' }),
    );
    const err = await channelFailure(calComAdapter().send(outbox(server.url), KEY, booking()));
    expect(err).toMatchObject({ code: 'calcom_429', transient: true, refundable: true });
    expect(server.received).toHaveLength(3);
  });

  it('no reply within the timeout: calcom_outcome_unknown, not refundable, one request', async () => {
    server = await fakeHttpServer(() => {});
    const err = await channelFailure(calComAdapter({ timeoutMs: 200 }).send(outbox(server.url), KEY, booking()));
    expect(err).toMatchObject({ code: 'calcom_outcome_unknown', transient: false, refundable: false });
    expect(server.received).toHaveLength(1);
  });

  it('a 2xx without a uid is still a booking made: no id, no error', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 201, { status: 'success' }));
    expect(await calComAdapter().send(outbox(server.url), KEY, booking())).toEqual({ providerMessageId: null });
  });
});

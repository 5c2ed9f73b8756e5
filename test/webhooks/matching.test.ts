import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calComAdapter } from '../../src/channels/cal-com.js';
import { linkedInAdapter } from '../../src/channels/linkedin.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { fakeHttpServer, json } from '../support/fake-http.js';
import { postRaw, sign, webhookCompany } from './support.js';

const MEMBER = 'ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM';
/** The same member as Sales Navigator names them (Unipile: "each user has multiple fixed provider IDs", ACo… / ACw… / AE…). */
const SALES_NAV_MEMBER = 'ACwAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM';

/**
 * Webhooks find the send they are about under every name it is known by: the booking a reschedule made, the
 * LinkedIn member id found when sending to a profile. The real cal.com and LinkedIn adapters talk to stand-ins
 * of the providers' documented APIs.
 */
function suite(backend: 'pglite' | 'postgres') {
  let t: TestApp;
  let clock = Date.parse('2026-06-01T09:00:00Z');
  let bookings = 0;
  let cal: Awaited<ReturnType<typeof fakeHttpServer>>;
  let unipile: Awaited<ReturnType<typeof fakeHttpServer>>;

  beforeAll(async () => {
    // POST /v2/bookings answers `{status: "success", data: {uid, …}}` (cal.com API v2, create a booking).
    cal = await fakeHttpServer((_req, res) =>
      json(res, 201, { status: 'success', data: { id: ++bookings, uid: `bk_${bookings}`, status: 'accepted' } }),
    );
    // GET /api/v1/users/{identifier} and POST /api/v1/users/invite, as Unipile documents them.
    unipile = await fakeHttpServer((req, res) => {
      if (req.method === 'GET' && req.url.startsWith('/api/v1/users/'))
        return json(res, 200, { object: 'UserProfile', provider: 'LINKEDIN', provider_id: MEMBER, public_identifier: 'julien-crepieux' });
      if (req.method === 'POST' && req.url === '/api/v1/users/invite')
        return json(res, 201, { object: 'UserInvitationSent', invitation_id: '7204563453921312768' });
      json(res, 404, { status: 404, type: 'errors/not_found', title: 'Not found' });
    });
    t = await startTestApp(backend, {
      now: () => new Date(clock),
      // LinkedIn without the lookup before the checks: as every send requested before recipients were resolved
      // (still pending approval, or sent), whose `to` is the profile and whose member id only the send learns.
      adapters: { 'cal-com': calComAdapter(), linkedin: { send: linkedInAdapter().send } },
    });
  });
  afterAll(async () => {
    await t?.close();
    await cal?.close();
    await unipile?.close();
  });

  const activity = async (c: { base: string }, id: string) => (await request(t.app).get(`${c.base}/activities/${id}`)).body;

  describe('cal.com: a rescheduled booking is followed along its chain', () => {
    // The trigger payloads as cal.com builds them: BOOKING_RESCHEDULED is the new booking (`uid`) naming the one it
    // replaces (`rescheduleUid`, `rescheduleId`, `rescheduleStartTime`); BOOKING_CANCELLED is the booking cancelled
    // (calcom/cal.com: packages/features/webhooks/lib/factory/versioned/v2021-10-20/BookingPayloadBuilder.ts).
    const hook = (c: { url: string }, triggerEvent: string, payload: Record<string, unknown>) => {
      clock += 60_000;
      const body = JSON.stringify({
        triggerEvent,
        createdAt: new Date(clock).toISOString(),
        payload: { attendees: [{ email: 'lea@example.org', name: 'Lea' }], ...payload },
      });
      return postRaw(t, c.url, body, { 'x-cal-signature-256': sign('cal-hook-secret', body).slice('sha256='.length) });
    };
    const rescheduled = (uid: string, from: string) => ({
      uid,
      rescheduleUid: from,
      rescheduleId: 1,
      rescheduleStartTime: '2026-06-10T10:00:00Z',
      status: 'ACCEPTED',
    });
    const book = async (c: { base: string; outboxId: string; url: string }) => {
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send({
          channel: 'cal-com',
          outboxId: c.outboxId,
          to: 'lea@example.org',
          payload: { start: '2026-06-10T10:00:00Z', attendee: { name: 'Lea', email: 'lea@example.org', timeZone: 'Europe/Paris' } },
        });
      expect(res.body.status, JSON.stringify(res.body)).toBe('sent');
      const uid = (await activity(c, res.body.id)).providerMessageId as string;
      expect(uid).toMatch(/^bk_\d+$/);
      return { id: res.body.id as string, uid };
    };

    it('a cancellation of the booking a reschedule made lands on the send', async () => {
      const c = await webhookCompany(t, 'cal-com', { eventTypeId: 42, baseUrl: cal.url }, 'cal-hook-secret');
      const b = await book(c);
      expect((await hook(c, 'BOOKING_RESCHEDULED', rescheduled('bk_moved', b.uid))).body).toEqual({ received: 1, recorded: 1 });
      expect(await activity(c, b.id)).toMatchObject({ deliveryStatus: 'booking_rescheduled' });
      expect(
        (await hook(c, 'BOOKING_CANCELLED', { uid: 'bk_moved', status: 'CANCELLED', cancellationReason: 'no longer needed' })).body,
      ).toEqual({ received: 1, recorded: 1 });
      expect(await activity(c, b.id)).toMatchObject({
        status: 'sent',
        deliveryStatus: 'booking_cancelled',
        deliveryEvents: [
          { state: 'booking_rescheduled' },
          { state: 'booking_cancelled', error: { code: 'booking_cancelled', message: 'no longer needed' } },
        ],
      });
    });

    it('a second reschedule, and what comes after, is the same send; a rebuild of the read model learns the same chain', async () => {
      const c = await webhookCompany(t, 'cal-com', { eventTypeId: 42, baseUrl: cal.url }, 'cal-hook-secret');
      const b = await book(c);
      expect((await hook(c, 'BOOKING_RESCHEDULED', rescheduled('bk_second', b.uid))).body.recorded).toBe(1);
      expect((await hook(c, 'BOOKING_RESCHEDULED', rescheduled('bk_third', 'bk_second'))).body.recorded).toBe(1);
      await t.rt.engine.rebuild('activity_aliases');
      expect((await hook(c, 'BOOKING_CANCELLED', { uid: 'bk_third', status: 'CANCELLED' })).body.recorded).toBe(1);
      const a = await activity(c, b.id);
      expect(a.deliveryEvents.map((e: { state: string }) => e.state)).toEqual([
        'booking_rescheduled',
        'booking_rescheduled',
        'booking_cancelled',
      ]);
      expect(a.deliveryStatus).toBe('booking_cancelled');
      // Another company's webhook naming the same uid finds nothing of this one's.
      const other = await webhookCompany(t, 'cal-com', { eventTypeId: 42, baseUrl: cal.url }, 'cal-hook-secret');
      await hook(other, 'BOOKING_CANCELLED', { uid: 'bk_second', status: 'CANCELLED' });
      expect((await activity(c, b.id)).deliveryEvents).toHaveLength(3);
    });
  });

  describe('LinkedIn (Unipile): the member found when sending to a profile', () => {
    const hook = (c: { url: string }, body: Record<string, unknown>) =>
      postRaw(t, c.url, JSON.stringify(body), { 'unipile-auth': 'unipile-shared-secret' });
    const invite = async (c: { base: string; outboxId: string }, to: string) => {
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send({ channel: 'linkedin', outboxId: c.outboxId, to, payload: { kind: 'invitation', note: 'Hello' } });
      expect(res.body.status, JSON.stringify(res.body)).toBe('sent');
      return res.body.id as string;
    };

    it('an accepted invitation and the reply that follows, named by member id only, land on the invitation sent to the profile URL', async () => {
      const c = await webhookCompany(t, 'linkedin', { accountId: 'SDF4tGaPSPSzNe1D1xsOs', baseUrl: unipile.url }, 'unipile-shared-secret');
      const id = await invite(c, 'https://www.linkedin.com/in/Julien-Crepieux/');
      expect((await activity(c, id)).to).toBe('linkedin.com/in/julien-crepieux');
      // developer.unipile.com/docs/detecting-accepted-invitations ("new_relation", users webhook).
      const accepted = await hook(c, {
        event: 'new_relation',
        account_id: 'SDF4tGaPSPSzNe1D1xsOs',
        account_type: 'LINKEDIN',
        webhook_name: '',
        user_full_name: 'Julien Crépieux',
        user_provider_id: MEMBER,
        user_public_identifier: 'julien-crepieux',
        user_profile_url: 'https://www.linkedin.com/in/julien-crepieux/',
      });
      expect(accepted.body).toEqual({ received: 1, recorded: 1 });
      expect(await activity(c, id)).toMatchObject({ deliveryStatus: 'accepted' });
      // developer.unipile.com/docs/new-messages-webhook: the sender is named by attendee_provider_id (and a profile URL
      // made of that id).
      const reply = await hook(c, {
        account_id: 'SDF4tGaPSPSzNe1D1xsOs',
        account_type: 'LINKEDIN',
        event: 'message_received',
        chat_id: 'R8J-xM9WX7eoHLp6gSVtWQ',
        timestamp: new Date(clock).toISOString(),
        webhook_name: 'Webhook demo',
        message_id: 'ykmhfXlRW0W_cqReJYrfBw',
        message: 'Happy to connect',
        sender: {
          attendee_id: 'C8zaRZTlVcmfnke_Vai4Gg',
          attendee_name: 'Julien Crépieux',
          attendee_provider_id: MEMBER,
          attendee_profile_url: `https://www.linkedin.com/in/${MEMBER}/`,
        },
      });
      // On the contact (the messaging window) and on the invitation it answers.
      expect(reply.body).toEqual({ received: 1, recorded: 2 });
      expect((await activity(c, id)).deliveryEvents).toContainEqual({
        type: 'reply',
        at: new Date(clock).toISOString(),
        text: 'Happy to connect',
        providerEventId: 'unipile:ykmhfXlRW0W_cqReJYrfBw',
      });
    });

    it('a new relation named by another product id is matched by its profile URL, in any spelling', async () => {
      const c = await webhookCompany(t, 'linkedin', { accountId: 'acc-sales-nav', baseUrl: unipile.url }, 'unipile-shared-secret');
      const id = await invite(c, 'julien-crepieux');
      const accepted = await hook(c, {
        event: 'new_relation',
        account_id: 'acc-sales-nav',
        account_type: 'LINKEDIN',
        user_provider_id: SALES_NAV_MEMBER,
        user_profile_url: 'http://LinkedIn.com/in/Julien-Crepieux/',
      });
      expect(accepted.body).toEqual({ received: 1, recorded: 1 });
      expect(await activity(c, id)).toMatchObject({ deliveryStatus: 'accepted' });
    });
  });
}

describe('matching webhooks to sends by the names they learnt (PGlite)', () => suite('pglite'));
describe.skipIf(!TEST_DATABASE_URL)(`matching webhooks to sends by the names they learnt (PostgreSQL)${POSTGRES_SKIP_REASON}`, () =>
  suite('postgres'),
);

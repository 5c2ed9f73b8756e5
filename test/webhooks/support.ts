import { createHmac, randomUUID } from 'node:crypto';
import request from 'supertest';
import { expect } from 'vitest';
import { ChannelError, type ChannelAdapter } from '../../src/channels/port.js';
import type { TestApp } from '../support/app.js';

export const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;

/** Our email format's headers, as a relay signs a delivery at `at`: the signature covers the timestamp. */
export function emailSignature(secret: string, body: string, at: Date): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  return { 'x-crm-timestamp': timestamp, 'x-crm-signature-256': sign(secret, `${timestamp}.${body}`) };
}

/**
 * A stand-in for a Meta Graph API adapter (the real ones are built elsewhere): it posts the message to the
 * outbox's baseUrl, as the Graph API takes it, and returns the id the provider answers with.
 */
export function graphAdapter(): ChannelAdapter {
  return {
    async send(outbox, credential, message) {
      const account = (outbox.config.phoneNumberId ?? outbox.config.igUserId) as string;
      const res = await fetch(`${outbox.config.baseUrl as string}/v21.0/${account}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: message.to, ...message.payload }),
      });
      if (!res.ok) throw new ChannelError(`http_${res.status}`, 'the provider refused the message');
      const body = (await res.json()) as { messages?: { id: string }[]; message_id?: string };
      return { providerMessageId: body.messages?.[0]?.id ?? body.message_id ?? null };
    },
  };
}

/** A company with a Meta outbox whose webhook is signed with `appSecret`; everyone allowed, everything auto-approved. */
export async function metaCompany(
  t: TestApp,
  opts: {
    channel: 'whatsapp' | 'instagram';
    baseUrl: string;
    appSecret: string;
    verifyToken?: string;
    autoApprove?: boolean;
    account?: string;
  },
) {
  const companyId = randomUUID();
  const base = `/api/companies/${companyId}/crm`;
  const token = await request(t.app).post(`${base}/secrets`).send({ name: 'graph-token', value: 'graph-access-token' });
  const app = await request(t.app).post(`${base}/secrets`).send({ name: 'meta-app-secret', value: opts.appSecret });
  expect([token.status, app.status]).toEqual([201, 201]);
  const account = opts.account ?? String(100000 + Math.floor(Math.random() * 899999));
  const accountField = opts.channel === 'whatsapp' ? { phoneNumberId: account } : { igUserId: account };
  const outbox = await request(t.app)
    .post(`${base}/outboxes`)
    .send({
      channel: opts.channel,
      secretRef: token.body.ref,
      config: {
        ...accountField,
        baseUrl: opts.baseUrl,
        webhook: { secretRef: app.body.ref, ...(opts.verifyToken ? { verifyToken: opts.verifyToken } : {}) },
      },
      dailyCap: 100,
    });
  expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
  expect((await request(t.app).post(`${base}/allowlist`).send({ pattern: '*' })).status).toBe(201);
  if (opts.autoApprove ?? true) {
    expect(
      (
        await request(t.app)
          .post(`${base}/approval-rules`)
          .send({ predicate: { channel: opts.channel }, action: 'auto_approve', priority: 10 })
      ).status,
    ).toBe(201);
  }
  return {
    companyId,
    base,
    outboxId: outbox.body.id as string,
    credentialId: token.body.id as string,
    account,
    hook: `/api/webhooks/${opts.channel}/${outbox.body.id as string}`,
  };
}

/** Posts a body exactly as given (the signature is over these bytes). */
export function postRaw(t: TestApp, url: string, body: string, headers: Record<string, string>) {
  let req = request(t.app).post(url).set('content-type', 'application/json');
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req.send(body);
}

/** A WhatsApp Cloud API webhook body carrying one `value` of the `messages` field. */
const waEnvelope = (phoneNumberId: string, value: Record<string, unknown>) =>
  JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001111', phone_number_id: phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  });

const waTime = (at: Date) => String(Math.floor(at.getTime() / 1000));

export const waStatus = (phoneNumberId: string, s: { id: string; status: string; at: Date; recipient: string; errors?: unknown[] }) =>
  waEnvelope(phoneNumberId, {
    statuses: [
      {
        id: s.id,
        status: s.status,
        timestamp: waTime(s.at),
        recipient_id: s.recipient.replace('+', ''),
        ...(s.errors ? { errors: s.errors } : {}),
      },
    ],
  });

export const waMessage = (phoneNumberId: string, m: { id: string; from: string; at: Date; text: string; contextId?: string }) =>
  waEnvelope(phoneNumberId, {
    contacts: [{ profile: { name: 'Ana' }, wa_id: m.from.replace('+', '') }],
    messages: [
      {
        from: m.from.replace('+', ''),
        id: m.id,
        timestamp: waTime(m.at),
        type: 'text',
        text: { body: m.text },
        ...(m.contextId ? { context: { from: '15550001111', id: m.contextId } } : {}),
      },
    ],
  });

export const igMessage = (igUserId: string, m: { mid: string; from: string; at: Date; text: string }) =>
  JSON.stringify({
    object: 'instagram',
    entry: [
      {
        id: igUserId,
        time: m.at.getTime(),
        messaging: [
          { sender: { id: m.from }, recipient: { id: igUserId }, timestamp: m.at.getTime(), message: { mid: m.mid, text: m.text } },
        ],
      },
    ],
  });

/** A company with one outbox of the channel, its webhook secret `hookSecret`; everyone allowed, auto-approved. */
export async function webhookCompany(
  t: TestApp,
  channel: 'email' | 'cal-com' | 'linkedin',
  config: Record<string, unknown>,
  hookSecret: string,
) {
  const companyId = randomUUID();
  const base = `/api/companies/${companyId}/crm`;
  const cred = (await request(t.app).post(`${base}/secrets`).send({ name: 'cred', value: 'smtp://u:p@127.0.0.1:1' })).body.ref;
  const hook = (await request(t.app).post(`${base}/secrets`).send({ name: 'hook', value: hookSecret })).body.ref;
  const outbox = await request(t.app)
    .post(`${base}/outboxes`)
    .send({ channel, secretRef: cred, config: { ...config, webhook: { secretRef: hook } } });
  expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
  await request(t.app).post(`${base}/allowlist`).send({ pattern: '*' });
  await request(t.app).post(`${base}/approval-rules`).send({ predicate: { channel }, action: 'auto_approve', priority: 10 });
  return { companyId, base, outboxId: outbox.body.id as string, url: `/api/webhooks/${channel}/${outbox.body.id as string}` };
}

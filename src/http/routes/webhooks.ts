import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { loadAggregate } from '../../commands/handle-command.js';
import { resolveSecret } from '../../commands/secrets.js';
import { OUTBOX_CHANNELS, type OutboxChannel } from '../../domain/channels.js';
import { DomainError } from '../../domain/decider.js';
import { outboxDecider, outboxStream } from '../../domain/outbox.js';
import { companyScope } from '../../domain/secret.js';
import type { Runtime } from '../../runtime.js';
import { webhookConfigOf } from '../../webhooks/config.js';
import { WebhookPayloadError, assertStorable } from '../../webhooks/notices.js';
import { WEBHOOK_PROVIDERS } from '../../webhooks/providers.js';
import { InboundRecorder } from '../../webhooks/record.js';
import { sharedSecretMatches } from '../../webhooks/signatures.js';
import { suppressFromWebhook } from '../../webhooks/suppression-hook.js';
import { HttpError, badRequest } from '../errors.js';
import { uuid } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

// One answer for an unknown outbox, another channel's, and one with no webhook secret: nothing to verify against.
const noWebhook = () => new HttpError(404, 'webhook not found');

/** The live outbox a webhook URL names, with its webhook settings. Read from its stream (the source of truth). */
async function webhookOutbox(rt: Runtime, req: Request) {
  const channel = String(req.params.channel) as OutboxChannel;
  const id = uuid.safeParse(req.params.outboxId);
  if (!OUTBOX_CHANNELS.includes(channel) || !id.success) throw noWebhook();
  const { state } = await loadAggregate(rt.store, outboxStream(id.data), outboxDecider);
  if (state.status !== 'active' || state.fields.channel !== channel) throw noWebhook();
  const webhook = webhookConfigOf(state.fields.config);
  if (!webhook) throw noWebhook();
  return { outbox: { outboxId: id.data, companyId: state.companyId, channel, config: state.fields.config }, webhook };
}

/**
 * Inbound webhooks: `POST /api/webhooks/{channel}/{outboxId}` and Meta's `GET` handshake. Public: mounted before
 * bearer authentication, as providers have no token; each delivery is authenticated by its provider's signature
 * (or shared secret) over the raw body, with the outbox's webhook secret. Bad signature: 401, body that does not
 * parse: 400, and in both cases nothing is recorded.
 */
export function webhooksRouter(rt: Runtime): Router {
  const r = Router();
  const path = '/api/webhooks/:channel/:outboxId';
  // The signature is over the bytes as sent: the body is kept raw, whatever its declared type.
  const raw = express.raw({ type: () => true, limit: '1mb' });

  type Target = Awaited<ReturnType<typeof webhookOutbox>>;
  // The outbox first: a caller naming no webhook gets its 404 before any body is read.
  const target = async (req: Request, res: Response, next: NextFunction) => {
    res.locals.target = await webhookOutbox(rt, req);
    next();
  };

  r.post(path, target, raw, async (req, res) => {
    const { outbox, webhook } = res.locals.target as Target;
    let secret: string;
    try {
      secret = (await resolveSecret(rt.store, rt.masterKey, webhook.secretRef, companyScope(outbox.companyId))).value;
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      rt.logger.warn('webhook secret cannot be resolved', { outboxId: outbox.outboxId, channel: outbox.channel });
      throw noWebhook();
    }
    const provider = WEBHOOK_PROVIDERS[outbox.channel];
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verdict = provider.verify(body, req.headers, secret, rt.now());
    // A refusal is logged with its reason (the caller is told little: it may be probing).
    const refused = (status: number, reason: string, err: HttpError) => {
      rt.logger.info('webhook refused', { channel: outbox.channel, outboxId: outbox.outboxId, status, reason });
      return err;
    };
    if (verdict === 'stale')
      throw refused(401, 'stale_timestamp', new HttpError(401, 'Unauthorized', "the signed timestamp is too far from this server's clock"));
    if (!verdict) throw refused(401, 'bad_signature', new HttpError(401, 'Unauthorized'));
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw refused(400, 'malformed_json', badRequest('Malformed JSON body'));
    }
    let notices;
    try {
      notices = provider.parse(json, rt.now());
      assertStorable(notices);
    } catch (err) {
      if (err instanceof WebhookPayloadError) throw refused(400, err.message, badRequest(err.message));
      throw err;
    }
    const result = await new InboundRecorder(
      { store: rt.store, db: rt.db, suppress: suppressFromWebhook(rt.store, rt.now) },
      outbox,
    ).record(notices);
    rt.logger.info('webhook recorded', {
      channel: outbox.channel,
      outboxId: outbox.outboxId,
      received: notices.length,
      recorded: result.recorded,
    });
    // A 200 whatever the read models do (providers retry anything else); the wait lets a reader see it next.
    await replyAfterWrite(rt, res, result.position, 200, { received: notices.length, recorded: result.recorded });
  });

  r.get(path, async (req, res) => {
    const { outbox, webhook } = await webhookOutbox(rt, req);
    if (!WEBHOOK_PROVIDERS[outbox.channel].verifyTokenHandshake || !webhook.verifyToken) throw noWebhook();
    const q = req.query as Record<string, unknown>;
    const token = q['hub.verify_token'];
    if (q['hub.mode'] !== 'subscribe' || typeof token !== 'string' || !sharedSecretMatches(webhook.verifyToken, token))
      throw new HttpError(403, 'Forbidden');
    const challenge = q['hub.challenge'];
    // Echoed back: only what Meta sends (digits, in practice), never markup.
    if (typeof challenge !== 'string' || !/^[A-Za-z0-9._-]{1,256}$/.test(challenge))
      throw badRequest('hub.challenge is missing or malformed');
    res.status(200).type('text/plain').set('X-Content-Type-Options', 'nosniff').send(challenge);
  });
  return r;
}

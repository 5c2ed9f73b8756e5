import { type ProviderErrorReading, field } from './http-provider.js';

/**
 * Meta codes that refuse a request for now (throttling, service briefly down): the message was not taken,
 * so it may be sent again. 4/17/32/613: app, user, page and call-rate limits; 80002/80006/80007: Instagram,
 * Messenger and WhatsApp Business account limits; 130429: Cloud API throughput; 131056: too many messages to
 * one recipient; 2 and 131016: service temporarily unavailable.
 */
const RETRY_LATER = new Set([2, 4, 17, 32, 613, 80002, 80006, 80007, 130429, 131016, 131056]);

/**
 * Reads a Graph API error, `{error:{message,type,code,error_subcode,fbtrace_id}}`: the activity's code is
 * Meta's code as a string (`131047`), so operators can look it up in Meta's tables.
 */
export function readMetaError(reply: { body: unknown }): ProviderErrorReading {
  const error = field(reply.body, 'error');
  const code = field(error, 'code');
  // Meta's codes are integers; anything else in that field is not one (and is not stored as a code).
  if ((typeof code !== 'number' && typeof code !== 'string') || !/^\d{1,12}$/.test(String(code))) return {};
  const message = field(error, 'message');
  const details = field(field(error, 'error_data'), 'details');
  const n = Number(code);
  return {
    code: String(code),
    message: [message, details].filter((x): x is string => typeof x === 'string' && x.length > 0).join(' - ') || undefined,
    retryLater: RETRY_LATER.has(n),
  };
}

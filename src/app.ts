import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';
import { errorHandler, unknownRoute } from './http/errors.js';
import { authenticate, requireActor } from './http/auth.js';
import { healthRouter } from './http/health.js';
import { docsRouter } from './http/routes/docs.js';
import { consoleRouter } from './http/routes/console.js';
import { requestId } from './http/request-id.js';
import { requestLog } from './http/request-log.js';
import { metricsRouter } from './http/routes/metrics.js';
import { activitiesRouter } from './http/routes/activities.js';
import { agentKeysRouter } from './http/routes/agent-keys.js';
import { allowlistRouter } from './http/routes/allowlist.js';
import { approvalRulesRouter } from './http/routes/approval-rules.js';
import { approvalsRouter } from './http/routes/approvals.js';
import { outboxesRouter } from './http/routes/outboxes.js';
import { sendRouter } from './http/routes/send.js';
import { sequencesRouter } from './http/routes/sequences.js';
import { boardTokensRouter } from './http/routes/board-tokens.js';
import { brandVoiceRouter } from './http/routes/brand-voice.js';
import { contentPiecesRouter } from './http/routes/content-pieces.js';
import { projectionsRouter } from './http/routes/projections.js';
import { auditRouter } from './http/routes/audit.js';
import { meRouter } from './http/routes/me.js';
import { postIssueHooksRouter } from './http/routes/post-issue-hooks.js';
import { secretsRouter } from './http/routes/secrets.js';
import { webhooksRouter } from './http/routes/webhooks.js';
import { suppressionsRouter } from './http/routes/suppressions.js';
import { unsubscribeRouter } from './http/routes/unsubscribe.js';
import type { Runtime } from './runtime.js';

export const BODY_LIMIT = '1mb';

/**
 * body-parser answers a body that decodes to nothing (no bytes, or a byte-order mark alone, which it strips) with
 * `{}`, so an empty PUT would replace a resource with an empty one. verify sees the raw bytes before they are
 * decoded and parsed, and must not throw (that is a 403): it only notes such bodies, and the next step drops them,
 * so parseBody refuses them as it refuses no body at all. Not strict: `null` or `123` is a well-formed JSON body
 * that is not an object, which parseBody says, rather than "malformed".
 */
const BYTE_ORDER_MARKS = [
  [0xef, 0xbb, 0xbf],
  [0xff, 0xfe],
  [0xfe, 0xff],
  [0xff, 0xfe, 0, 0],
  [0, 0, 0xfe, 0xff],
].map((b) => Buffer.from(b));
const emptyBodies = new WeakSet<IncomingMessage>();
const jsonBody = [
  express.json({
    limit: BODY_LIMIT,
    strict: false,
    verify: (req, _res, buf) => {
      if (buf.length === 0 || BYTE_ORDER_MARKS.some((bom) => bom.equals(buf))) emptyBodies.add(req);
    },
  }),
  ((req, _res, next) => {
    if (emptyBodies.has(req)) req.body = undefined;
    next();
  }) satisfies RequestHandler,
];

/** The HTTP app, testable without listening. */
export function createApp(rt: Runtime): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestId);
  app.use(requestLog(rt.logger, rt.metrics));
  app.use(healthRouter(rt));
  // Public, ahead of authentication like the health checks: the API's description holds nothing to protect.
  app.use(docsRouter());
  // The console's files are public too; its data comes from the API below, under the API's guards.
  app.use(consoleRouter());
  app.use(metricsRouter(rt));
  // Providers carry no bearer token: webhooks are authenticated by their signatures, before (and without) ours.
  app.use(webhooksRouter(rt));
  // Public, token-authorised: ahead of authentication, so neither a stray bearer header nor local_trusted's
  // loopback rule refuses a mail provider's one-click POST.
  app.use(unsubscribeRouter(rt));
  app.use(authenticate(rt));
  // Every /api route needs an actor: refuse anonymous callers before their body is read.
  app.use('/api', requireActor);
  app.use(jsonBody);
  // Routers carry full paths and are mounted at the root, so the security matrix can list every route.
  app.use(meRouter(rt));
  app.use(boardTokensRouter(rt));
  app.use(agentKeysRouter(rt));
  app.use(secretsRouter(rt));
  app.use(contentPiecesRouter(rt));
  app.use(brandVoiceRouter(rt));
  app.use(postIssueHooksRouter(rt));
  app.use(projectionsRouter(rt));
  app.use(auditRouter(rt));
  app.use(outboxesRouter(rt));
  app.use(allowlistRouter(rt));
  app.use(suppressionsRouter(rt));
  app.use(approvalRulesRouter(rt));
  app.use(sequencesRouter(rt));
  app.use(sendRouter(rt));
  app.use(approvalsRouter(rt));
  app.use(activitiesRouter(rt));
  app.use(unknownRoute);
  app.use(errorHandler(rt.logger));
  return app;
}

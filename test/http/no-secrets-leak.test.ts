import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { resolveSecret } from '../../src/commands/secrets.js';
import { companyScope } from '../../src/domain/secret.js';
import { createLogger } from '../../src/logger.js';
import { adminToken, startTestApp } from '../support/app.js';

describe('no secret value or plain token in replies or logs', () => {
  it('a realistic flow at debug level leaks nothing', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (l) => lines.push(l));
    const t = await startTestApp('pglite', { logger, config: { authMode: 'authenticated', logLevel: 'debug' } });
    const replies: { body: string; issued?: string }[] = [];
    const record = (res: request.Response, issued?: string) => {
      replies.push({ body: JSON.stringify(res.body) + JSON.stringify(res.headers), issued });
      return res;
    };
    try {
      const company = randomUUID();
      const admin = await adminToken(t.rt);
      const as = (token: string) => ({ authorization: `Bearer ${token}` });

      const board = record(
        await request(t.app)
          .post('/api/admin/board-tokens')
          .set(as(admin))
          .send({ userId: 'ops', companyIds: [company] }),
      );
      const ops = board.body.token as string;
      replies[replies.length - 1]!.issued = ops;

      const v1 = 'smtp://mailer:S3cr3t-first@127.0.0.1:2525';
      const v2 = 'smtp://mailer:S3cr3t-second@127.0.0.1:2525';
      const created = record(
        await request(t.app).post(`/api/companies/${company}/crm/secrets`).set(as(ops)).send({ name: 'smtp', value: v1 }),
      );
      // "Use it": the dispatcher's path to a value.
      expect((await resolveSecret(t.rt.store, t.rt.masterKey, created.body.ref, companyScope(company))).value).toBe(v1);
      record(
        await request(t.app).post(`/api/companies/${company}/crm/secrets/${created.body.id}/versions`).set(as(ops)).send({ value: v2 }),
      );
      expect((await resolveSecret(t.rt.store, t.rt.masterKey, created.body.ref, companyScope(company))).value).toBe(v2);
      record(await request(t.app).get(`/api/companies/${company}/crm/secrets`).set(as(ops)));

      const key = record(await request(t.app).post(`/api/companies/${company}/agent-keys`).set(as(ops)).send({ agentId: 'bot' }));
      const agent = key.body.token as string;
      replies[replies.length - 1]!.issued = agent;
      record(await request(t.app).get(`/api/companies/${company}/agent-keys`).set(as(ops)));
      record(await request(t.app).get(`/api/companies/${company}/crm/secrets`).set(as(agent)));
      // Errors too: a rejected secret body, a well-formed unknown token.
      record(await request(t.app).post(`/api/companies/${company}/crm/secrets`).set(as(ops)).send({ name: 'x', value: v1, extra: v2 }));
      record(
        await request(t.app)
          .get('/api/admin/board-tokens')
          .set(as(`pcp_board_${'c'.repeat(48)}`)),
      );
      record(await request(t.app).get('/api/admin/board-tokens').set(as(admin)));

      const secrets = [v1, v2, 'S3cr3t-first', 'S3cr3t-second'];
      const tokens = [admin, ops, agent, `pcp_board_${'c'.repeat(48)}`];
      expect(lines.length).toBeGreaterThan(5);
      const log = lines.join('\n');
      for (const s of [...secrets, ...tokens]) expect(log).not.toContain(s);
      for (const r of replies) {
        for (const s of secrets) expect(r.body).not.toContain(s);
        for (const tok of tokens) if (tok !== r.issued) expect(r.body).not.toContain(tok);
      }
    } finally {
      await t.close();
    }
  });
});

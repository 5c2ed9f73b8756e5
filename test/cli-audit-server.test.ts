import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { auditViaServer } from '../src/cli/audit.js';
import { ServerApiError, serverApi } from '../src/cli/server-api.js';
import { loadConfig } from '../src/config.js';

// The audit CLI through a server: the audit route's own 404 means "no such aggregate"; any other 404 (a server
// that does not know the route, e.g. an older version) is a failure that says what answered.
describe('crm history through a server', () => {
  it('reads "No <kind> <id>" as absent and an unknown route as an error', async () => {
    const server = createServer((req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: req.url?.startsWith('/api/admin/history/activity/') ? `No activity x` : 'Not found' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const audit = auditViaServer(serverApi(loadConfig({ PORT: String(port) }), {}));
      expect(await audit.history('activity', 'x')).toBeNull();
      await expect(audit.history('outbox', 'x')).rejects.toBeInstanceOf(ServerApiError);
      await expect(audit.state('activity', 'x', null)).rejects.toThrow(/answered 404: Not found/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

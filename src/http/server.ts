import { type Server, createServer } from 'node:http';
import type { Express } from 'express';

const JSON_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request headers too large'],
};

/**
 * The HTTP server around the app. Requests that node's parser refuses before express sees them still get
 * the JSON error shape (431 for oversized headers, 400 otherwise).
 */
export function createHttpServer(app: Express): Server {
  const server = createServer(app);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, message] = JSON_ERRORS[err.code ?? ''] ?? [400, 'Bad request'];
    const body = JSON.stringify({ error: message });
    const reason = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

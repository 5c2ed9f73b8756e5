import type { Config } from '../config.js';

/** The running server's admin API, for commands whose storage that server holds (the embedded data folder). */
export interface ServerApi {
  get<T>(path: string): Promise<T>;
  /**
   * A GET whose 404 is an answer (no such aggregate), not a failure: one whose error `absent` recognises (any
   * other 404, e.g. an older server without the route, is a failure that says so).
   */
  getOrNull<T>(path: string, absent?: (error: string) => boolean): Promise<T | null>;
  post<T>(path: string): Promise<{ body: T; location: string | null }>;
}

export class ServerApiError extends Error {}

/**
 * The server on this machine, as the configuration places it. In local_trusted mode loopback needs no token;
 * otherwise CRM_ADMIN_TOKEN (an instance admin's board token) is sent.
 */
export function serverApi(config: Config, env: NodeJS.ProcessEnv = process.env): ServerApi {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (env.CRM_ADMIN_TOKEN) headers.authorization = `Bearer ${env.CRM_ADMIN_TOKEN}`;
  const call = async (method: string, path: string, absent?: (error: string) => boolean) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(30_000) });
    } catch {
      throw new ServerApiError(`the data folder is in use and no server answers at ${base}`);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    if (res.status === 404 && absent?.(body.error ?? '')) return { body: null, location: null };
    if (res.status === 400) throw new ServerApiError(body.error ?? 'the server refused the request');
    if (!res.ok) {
      const hint = res.status === 401 || res.status === 403 ? ' (set CRM_ADMIN_TOKEN to an instance admin board token)' : '';
      throw new ServerApiError(`the server at ${base} answered ${res.status}: ${body.error ?? 'no detail'}${hint}`);
    }
    return { body, location: res.headers.get('location') };
  };
  return {
    get: async <T>(path: string) => (await call('GET', path)).body as T,
    getOrNull: async <T>(path: string, absent: (error: string) => boolean = () => true) =>
      (await call('GET', path, absent)).body as T | null,
    post: async <T>(path: string) => {
      const r = await call('POST', path);
      return { body: r.body as T, location: r.location };
    },
  };
}

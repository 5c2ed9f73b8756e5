import createClient, { type ClientOptions } from 'openapi-fetch';
import type { paths } from './schema.js';

export type { components, operations, paths } from './schema.js';

/**
 * A typed client of this service's HTTP API (openapi-fetch over the generated ./schema.d.ts): paths, parameters,
 * bodies and replies are checked by the compiler against the OpenAPI document. `token` is a board token or an
 * agent key; none for local_trusted mode from loopback.
 */
export function crmClient(baseUrl: string, opts: { token?: string } & Omit<ClientOptions, 'baseUrl'> = {}) {
  const { token, headers, ...rest } = opts;
  return createClient<paths>({
    baseUrl,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(headers as Record<string, string> | undefined) },
    ...rest,
  });
}

export type CrmClient = ReturnType<typeof crmClient>;

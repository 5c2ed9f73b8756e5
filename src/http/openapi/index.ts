import { z } from 'zod';
import { OUTBOX_CHANNELS } from '../../domain/channels.js';
import { uuid } from '../validate.js';
import { BODY_LIMIT } from '../../app.js';
import { type Guard, OPERATIONS, type OperationSpec, type Reply } from './operations.js';
import { AcceptedReply, ErrorReply, type SchemaMeta, replySchemas } from './replies.js';

export { OPERATIONS, type OperationSpec } from './operations.js';

type JsonSchema = Record<string, unknown>;

/** Request bodies go to components/schemas too: input side (what a client sends: defaults optional). */
const requestSchemas = z.registry<SchemaMeta>();

const GUARDS: Record<Guard, { security: Record<string, string[]>[]; actors: string[]; text: string; errors: number[] }> = {
  public: { security: [], actors: ['anyone'], text: 'Public: no credentials.', errors: [] },
  signed: {
    security: [],
    actors: ['the provider'],
    text: "No bearer token: the provider's signature over the raw body, with the outbox's webhook secret.",
    errors: [401],
  },
  unsubscribeToken: {
    security: [],
    actors: ['anyone with the link'],
    text: 'No credentials: the sealed token in the link is the only authority, and it can only suppress the recipient it names.',
    errors: [400],
  },
  instanceAdmin: {
    security: [{ boardToken: [] }],
    actors: ['board:instanceAdmin'],
    text: 'Instance admins (a board token with `instanceAdmin`).',
    errors: [401, 403],
  },
  companyMember: {
    security: [{ boardToken: [] }, { agentKey: [] }],
    actors: ['board', 'agent'],
    text: 'Board users with access to the company, and agents of the company.',
    errors: [400, 401, 403],
  },
  companyBoard: {
    security: [{ boardToken: [] }],
    actors: ['board'],
    text: 'Board users with access to the company (people, not agents: an agent key is a 403).',
    errors: [400, 401, 403],
  },
  metrics: {
    security: [{ metricsToken: [] }, { boardToken: [] }],
    actors: ['scraper', 'board:instanceAdmin'],
    text: 'A scraper holding `CRM_METRICS_TOKEN`, or instance admins.',
    errors: [401, 403],
  },
  actor: {
    security: [{ boardToken: [] }, { agentKey: [] }],
    actors: ['board', 'agent'],
    text: 'Any board user or agent (in local_trusted mode, 403 off loopback, as for every route).',
    errors: [401, 403],
  },
  companyInstanceAdmin: {
    security: [{ boardToken: [] }],
    actors: ['board:instanceAdmin'],
    text: 'Instance admins with access to the company.',
    errors: [400, 401, 403],
  },
};

// A function: app.ts imports this module (through the docs router), so its BODY_LIMIT is read only once it is loaded.
const errorText = (): Record<number, string> => ({
  400: 'Bad request: a malformed parameter or body, or a body that fails validation (`details` lists the issues)',
  401: 'Unauthorized: no credentials, or a malformed, unknown, revoked or expired token (all the same answer)',
  403: 'Forbidden: the caller may not do this (another company, an agent where a person must act, not an instance admin)',
  404: 'Not found (or not this company’s: the same answer)',
  409: 'Conflict: the resource changed concurrently, or the request conflicts with its state',
  413: `Request body too large (over ${BODY_LIMIT})`,
  415: 'Unsupported content type or encoding',
  422: 'The request is well formed but the resource’s state does not allow it',
  500: 'Internal error (logged; the reply says nothing more)',
  503: 'Service unavailable: a backend (database or event store) is unreachable',
});

/** `:name` -> `{name}`, as OpenAPI writes a path parameter. */
export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

// Path parameters that are not UUIDs (a projection's name, an audit kind and its id, which a bucket's is not).
const PLAIN_PATH_PARAMS = new Set(['token', 'asset', 'file', 'name', 'kind', 'id']);

function pathParameter(name: string): JsonSchema {
  const schema: JsonSchema =
    name === 'channel'
      ? { type: 'string', enum: [...OUTBOX_CHANNELS] }
      : PLAIN_PATH_PARAMS.has(name)
        ? { type: 'string' }
        : { type: 'string', format: 'uuid', pattern: UUID_PATTERN };
  return { name, in: 'path', required: true, schema };
}

/** zod's JSON Schema of a schema on its own, without the dialect keyword (the document declares it once). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function queryParameters(query: NonNullable<OperationSpec['query']>): JsonSchema[] {
  const s = (query instanceof z.ZodType ? jsonSchema(query, 'input') : query) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(s.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: s.required?.includes(name) ?? false,
    schema: withUuids(schema),
  }));
}

const pascal = (s: string) => s[0]!.toUpperCase() + s.slice(1);

function requestRef(op: OperationSpec): JsonSchema {
  const schema = op.body!;
  const known = requestSchemas.get(schema)?.id;
  if (!known) requestSchemas.add(schema, { id: `${pascal(op.operationId)}Body` });
  return { $ref: `#/components/schemas/${requestSchemas.get(schema)!.id}` };
}

function replySchema(reply: Reply): JsonSchema | undefined {
  if (!reply.schema) return undefined;
  if (!(reply.schema instanceof z.ZodType)) return reply.schema;
  const id = replySchemas.get(reply.schema)?.id;
  return id ? { $ref: `#/components/schemas/${id}` } : jsonSchema(reply.schema, 'output');
}

/** Each error status once, under components/responses, as `Error<status>`. */
function errorResponses(): Record<string, JsonSchema> {
  return Object.fromEntries(
    Object.entries(errorText()).map(([status, description]) => [
      `Error${status}`,
      { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    ]),
  );
}

function operation(op: OperationSpec): JsonSchema {
  const guard = GUARDS[op.guard];
  const pathParams = [...op.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const responses: Record<string, JsonSchema> = {};
  for (const [status, reply] of Object.entries(op.replies)) {
    const schema = replySchema(reply);
    responses[status] = {
      description: reply.description,
      ...(op.write ? { headers: { 'X-CRM-Position': { $ref: '#/components/headers/Position' } } } : {}),
      ...(schema ? { content: { [reply.contentType ?? 'application/json']: { schema } } } : {}),
    };
  }
  if (op.readBack)
    responses['202'] = {
      description: AcceptedReply.description ?? 'Accepted',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Accepted' } } },
    };
  const errors = new Set<number>([...guard.errors, ...(op.errors ?? []), 500, 503]);
  if (op.body || op.rawBody) [400, 413, 415].forEach((s) => errors.add(s));
  if (op.query || pathParams.some((p) => p !== 'companyId')) errors.add(400);
  if (pathParams.some((p) => p !== 'companyId' && p !== 'token')) errors.add(404);
  if (op.write) errors.add(409);
  for (const status of [...errors].sort()) responses[String(status)] ??= { $ref: `#/components/responses/Error${status}` };

  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    description: [op.description, `**Who may call it:** ${guard.text}`].filter(Boolean).join('\n\n'),
    security: guard.security,
    'x-crm-guard': op.guard,
    'x-crm-actors': guard.actors,
    ...(pathParams.length || op.query
      ? { parameters: [...pathParams.map(pathParameter), ...(op.query ? queryParameters(op.query) : [])] }
      : {}),
    ...(op.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: requestRef(op) } } } }
      : op.rawBody
        ? {
            requestBody: {
              required: false,
              description: op.rawBody.description,
              content: { [op.rawBody.contentType]: { schema: op.rawBody.schema } },
            },
          }
        : {}),
    responses,
  };
}

/** components/schemas from a registry: zod writes each with a `$schema` and an `$id`, which a component needs neither of. */
function components(registry: typeof replySchemas, io: 'input' | 'output'): Record<string, JsonSchema> {
  const out = z.toJSONSchema(registry, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  return Object.fromEntries(
    Object.entries(out.schemas).map(([id, s]) => {
      const { $schema: _s, $id: _i, ...rest } = s;
      return [id, withUuids(io === 'output' ? loosened(rest) : rest)];
    }),
  );
}

/**
 * validate.ts's `uuid` matches either case (its regex has the `i` flag), which a JSON Schema pattern cannot say:
 * zod writes the lower-case pattern alone. Its fields get the pattern of either case, and the uuid format.
 */
const ZOD_UUID_PATTERN = (z.toJSONSchema(uuid, { io: 'input' }) as { pattern: string }).pattern;
function withUuids(schema: JsonSchema): JsonSchema {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    const o = v as JsonSchema;
    if (o.pattern === ZOD_UUID_PATTERN) return { ...o, format: 'uuid', pattern: UUID_PATTERN };
    return Object.fromEntries(Object.entries(o).map(([k, child]) => [k, walk(child)]));
  };
  return walk(schema) as JsonSchema;
}

/**
 * zod closes every object it writes (`additionalProperties: false`), and bounds every int by the safe integers.
 * A reply may gain fields without breaking its clients, so reply objects stay open; the bounds say nothing.
 */
function loosened(schema: JsonSchema): JsonSchema {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    const out: JsonSchema = {};
    for (const [k, child] of Object.entries(v)) {
      if (k === 'additionalProperties' && child === false) continue;
      if ((k === 'minimum' || k === 'maximum') && Math.abs(child as number) === Number.MAX_SAFE_INTEGER) continue;
      out[k] = walk(child);
    }
    return out;
  };
  return walk(schema) as JsonSchema;
}

let built: JsonSchema | undefined;

/**
 * The OpenAPI 3.1 description of every route, built once from the table in ./operations.ts and the routes' own zod
 * schemas. It names no secret, no host and no configuration: the same document whoever asks.
 */
export function openApiDocument(): JsonSchema {
  if (built) return built;
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) (paths[openApiPath(op.path)] ??= {})[op.method] = operation(op);
  // Error, Accepted: referred to by name from every operation, registered when replies.ts loads.
  void ErrorReply;
  built = {
    openapi: '3.1.1',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'crm-outreach',
      version: '0.1.0',
      description:
        'Event-sourced service for safe multi-channel outbound outreach. Every `/api` route but the webhooks takes a bearer ' +
        'token: a board token (people) or an agent key (agents); `x-crm-actors` on each operation says which. With ' +
        '`CRM_AUTH_MODE=local_trusted` a request from loopback (Host and Origin) acts as the local operator without a token.\n\n' +
        'Writes answer once the read models include them (up to 5 s); `X-CRM-Position` is the position of the write.',
    },
    tags: [
      'health',
      'docs',
      'access',
      'secrets',
      'content',
      'outboxes',
      'recipients',
      'approvals',
      'sending',
      'sequences',
      'webhooks',
      'unsubscribe',
      'projections',
      'audit',
      'console',
    ].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        boardToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'crm board token',
          description: 'A person: `crm tokens issue` or `POST /api/admin/board-tokens`. Instance admins have `instanceAdmin`.',
        },
        metricsToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The value of `CRM_METRICS_TOKEN`, for a Prometheus scraper (GET /metrics only).',
        },
        agentKey: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'crm agent key',
          description: 'An agent of one company: `POST /api/companies/{companyId}/agent-keys`.',
        },
      },
      responses: errorResponses(),
      headers: {
        Position: {
          description: 'The event-store position of the write (the read models included it before the reply, unless 202)',
          schema: { type: 'string' },
        },
      },
      schemas: { ...components(replySchemas, 'output'), ...components(requestSchemas, 'input') },
    },
  };
  return built;
}

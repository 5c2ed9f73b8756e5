import { type ParseArgsConfig, parseArgs } from 'node:util';
import { issueAgentKey, issueBoardToken, revokeAccessToken } from '../commands/access-tokens.js';
import { LOCAL_OPERATOR } from '../commands/actor.js';
import { createInstanceSecret, createSecret } from '../commands/secrets.js';
import { ConfigError, loadConfig } from '../config.js';
import { DomainError } from '../domain/decider.js';
import { type Position, START } from '../eventstore/port.js';
import { createLogger } from '../logger.js';
import { type Runtime, createRuntime } from '../runtime.js';
import { MasterKeyMismatchError } from '../secrets/key-check.js';
import { DataDirBusyError } from '../sql/data-dir-lock.js';
import { type ProjectionsAccess, rebuildWithProgress, statusTable, viaServer } from './projections.js';
import { type ServerApi, ServerApiError, serverApi } from './server-api.js';
import { AUDIT_KINDS } from '../audit/kinds.js';
import { AuditInputError, auditStream, history, stateAsOf } from '../audit/replay.js';
import { isoInstant } from '../http/validate.js';
import { type AuditAccess, auditViaServer, historyTable } from './audit.js';

/** A mistake in the command line: one line on stderr, exit 2. */
class UsageError extends Error {}

/** What was asked for does not exist: one line on stderr, exit 1. */
class NotFoundError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const HELP: Record<string, string> = {
  '': `Usage: crm <command> [options]

Works on the storage configured by the environment (CRM_DATA_DIR, DATABASE_URL, EVENTSTORE_URL), as the
server does; with embedded storage the server must not be running.

Commands:
  token board    issue a board token (a person)
  token agent    issue an agent key (one agent of one company)
  token revoke   revoke a board token or an agent key
  secret put     store a secret of a company, or of the instance, reading its value from stdin
  projections status    each projection's checkpoint, lag and leader
  projections rebuild   rebuild projections from the log (aside, then swapped in; safe while the server runs)
  history <kind> <id>   an aggregate's events (audit)
  state <kind> <id>     an aggregate's state at an instant (audit replay)

Run 'crm <command> --help' for a command's options.`,
  token: `Usage: crm token <board|agent|revoke> [options]   ('crm token <sub> --help' for each)`,
  'token board': `Usage: crm token board --user <id> [--admin] [--company <uuid>]... [--ttl-days N]

Prints the token alone on stdout (it is shown once; only its hash is stored).
  --user <id>        the person's user id (required)
  --admin            an instance admin
  --company <uuid>   a company the person is a member of (repeatable)
  --ttl-days N       lifetime in days (default CRM_BOARD_TOKEN_TTL_DAYS, 30; 0 = never expires)`,
  'token agent': `Usage: crm token agent --agent <id> --company <uuid>

Prints the agent key alone on stdout (shown once).`,
  'token revoke': `Usage: crm token revoke <token-id>

Revokes a board token or an agent key by its id (not the token itself).`,
  secret: `Usage: crm secret put (--company <uuid> | --instance) --name <name>   ('crm secret put --help')`,
  'secret put': `Usage: crm secret put (--company <uuid> | --instance) --name <name> < value

Reads the value from stdin (a trailing newline is dropped) and prints its reference, secret://<id>:latest.
  --company <uuid>   a secret of that company (its board users manage it, its outboxes use it)
  --instance         an instance secret, for instance configuration (the post-issue hooks' secretRef):
                     only operators manage it, and no company can see or use it`,
  projections: `Usage: crm projections <status|rebuild> [options]   ('crm projections <sub> --help' for each)`,
  'projections status': `Usage: crm projections status [--json]

Each projection's checkpoint, events applied, lag and leader, as a table (or --json). With embedded storage
held by a running server, asks that server (GET /api/admin/projections; CRM_ADMIN_TOKEN unless local_trusted).`,
  history: `Usage: crm history <kind> <id> [--json]

An aggregate's events, oldest first: revision, time, type, actor and data (cut to a line; --json has them
whole). Exit 1 when it has no event.
  <kind>   ${AUDIT_KINDS.join(', ')}
  <id>     a UUID; a rule-set's is its company's; a bucket's is <companyId>.<credentialId>.<YYYY-MM-DD>
           (the credential's day in its outboxes' time zone)
With embedded storage held by a running server, asks that server (GET /api/admin/history/{kind}/{id}).`,
  state: `Usage: crm state <kind> <id> [--as-of <ISO time>]

The aggregate as it was at that instant (default: now), as JSON: the events recorded up to then folded by the
decider the service decides with, with the last revision folded. Kinds and ids as for 'crm history'.
With embedded storage held by a running server, asks that server (GET /api/admin/state/{kind}/{id}).`,
  'projections rebuild': `Usage: crm projections rebuild (<name> | --all)

Rebuilds from the event log into tables aside, then swaps them in: the service goes on serving meanwhile. A
progress bar on a terminal, a line a second otherwise. With embedded storage held by a running server, the
server rebuilds (POST /api/admin/projections/{name}/rebuild) and the command follows its progress.`,
};

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  positionals = 0,
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: positionals > 0,
      strict: true,
    });
    if (!r.values.help && r.positionals.length !== positionals)
      throw new UsageError(`expected ${positionals} argument(s), got ${r.positionals.length}`);
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
}

const requireUuid = (value: unknown, flag: string): string => {
  if (typeof value !== 'string' || !UUID.test(value)) throw new UsageError(`${flag} must be a UUID`);
  return value.toLowerCase();
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Enter the secret value, then Ctrl-D:\n');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Opens the configured storage, runs `fn`, and lets the read models catch up before closing. */
async function withRuntime(fn: (rt: Runtime) => Promise<{ out: string; position: Position | null }>): Promise<string> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'debug' ? 'debug' : 'error', (l) => process.stderr.write(`${l}\n`));
  const rt = await createRuntime(config, logger);
  try {
    const { out, position } = await fn(rt);
    if (position) {
      // So that a server started next finds the token in its read model at once.
      await rt.engine.start();
      await rt.engine.waitFor(position, { timeoutMs: 30_000 });
    }
    return out;
  } finally {
    await rt.close();
  }
}

/**
 * Reads and rebuilds on the configured storage: opened here, or, while a server holds the embedded data folder,
 * through that server's admin API (`remote`), so they work while the service runs.
 */
async function withStorage<A>(
  local: (rt: Runtime) => A,
  remote: (api: ServerApi) => A,
  fn: (access: A) => Promise<string>,
): Promise<string> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'debug' ? 'debug' : 'error', (l) => process.stderr.write(`${l}\n`));
  let rt: Runtime;
  try {
    rt = await createRuntime(config, logger);
  } catch (err) {
    if (err instanceof DataDirBusyError) return fn(remote(serverApi(config)));
    throw err;
  }
  try {
    return await fn(local(rt));
  } finally {
    await rt.close();
  }
}

const withProjections = (fn: (access: ProjectionsAccess) => Promise<string>) =>
  withStorage<ProjectionsAccess>(
    (rt) => ({
      status: () => rt.engine.status(),
      totalEvents: () => rt.store.countAfter(START, 100_000_000),
      rebuild: (name, onProgress) => rt.engine.rebuild(name, onProgress),
    }),
    viaServer,
    fn,
  );

const withAudit = (fn: (access: AuditAccess) => Promise<string>) =>
  withStorage<AuditAccess>(
    (rt) => ({ history: (kind, id) => history(rt.store, kind, id), state: (kind, id, asOf) => stateAsOf(rt.store, kind, id, asOf) }),
    auditViaServer,
    fn,
  );

/** The kind and id of `crm history|state`, checked here so that a typo is a usage error whichever path reads. */
function auditTarget(positionals: string[]): { kind: string; id: string } {
  const [kind, id] = positionals as [string, string];
  try {
    auditStream(kind, id);
  } catch (err) {
    if (err instanceof AuditInputError) throw new UsageError(err.message);
    throw err;
  }
  return { kind, id };
}

export async function run(argv: string[]): Promise<string> {
  const [group, sub, ...rest] = argv;
  if (group === 'history' || group === 'state') return audit(group, argv.slice(1));
  const key = [group, sub].filter((x) => x && !x.startsWith('-')).join(' ');
  if (!group || group === '--help' || group === '-h') return HELP['']!;
  if ((!sub || sub === '--help' || sub === '-h') && HELP[group]) return HELP[group]!;
  if (!HELP[key] || key.split(' ').length !== 2)
    throw new UsageError(`unknown command '${[group, sub].filter(Boolean).join(' ')}' (see crm --help)`);

  switch (key) {
    case 'token board': {
      const { values } = parse(rest, {
        user: { type: 'string' },
        admin: { type: 'boolean' },
        company: { type: 'string', multiple: true },
        'ttl-days': { type: 'string' },
      });
      if (values.help) return HELP[key]!;
      if (typeof values.user !== 'string' || !values.user.trim()) throw new UsageError('--user is required');
      const companies = ((values.company as string[] | undefined) ?? []).map((c) => requireUuid(c, '--company'));
      let ttlDays: number | undefined;
      if (values['ttl-days'] !== undefined) {
        ttlDays = Number(values['ttl-days']);
        if (!Number.isInteger(ttlDays) || ttlDays < 0 || ttlDays > 3650)
          throw new UsageError('--ttl-days must be a whole number from 0 to 3650');
      }
      return withRuntime(async (rt) => {
        const r = await issueBoardToken(
          rt.store,
          {
            userId: (values.user as string).trim(),
            instanceAdmin: values.admin === true,
            companyIds: companies,
            ttlDays: ttlDays ?? rt.config.boardTokenTtlDays,
          },
          LOCAL_OPERATOR,
          rt.now(),
        );
        return { out: r.token, position: r.position };
      });
    }
    case 'token agent': {
      const { values } = parse(rest, { agent: { type: 'string' }, company: { type: 'string' } });
      if (values.help) return HELP[key]!;
      if (typeof values.agent !== 'string' || !values.agent.trim()) throw new UsageError('--agent is required');
      const companyId = requireUuid(values.company, '--company');
      return withRuntime(async (rt) => {
        const r = await issueAgentKey(rt.store, { agentId: (values.agent as string).trim(), companyId }, LOCAL_OPERATOR, rt.now());
        return { out: r.token, position: r.position };
      });
    }
    case 'token revoke': {
      const { values, positionals } = parse(rest, {}, 1);
      if (values.help) return HELP[key]!;
      const tokenId = requireUuid(positionals[0], 'the token id');
      return withRuntime(async (rt) => {
        const position = await revokeAccessToken(rt.store, { tokenId }, LOCAL_OPERATOR, rt.now());
        return { out: `revoked ${tokenId}`, position };
      });
    }
    case 'secret put': {
      const { values } = parse(rest, { company: { type: 'string' }, instance: { type: 'boolean' }, name: { type: 'string' } });
      if (values.help) return HELP[key]!;
      if (values.instance === true && values.company !== undefined) throw new UsageError('--company and --instance exclude each other');
      const companyId = values.instance === true ? null : requireUuid(values.company, '--company (or --instance)');
      if (typeof values.name !== 'string' || !values.name.trim()) throw new UsageError('--name is required');
      const name = values.name.trim();
      const value = await readStdin();
      if (!value) throw new UsageError('the secret value (stdin) is empty');
      return withRuntime(async (rt) => {
        const s = companyId
          ? await createSecret(rt.store, rt.masterKey, { companyId, name, value }, LOCAL_OPERATOR, rt.now(), rt.db)
          : await createInstanceSecret(rt.store, rt.masterKey, { name, value }, LOCAL_OPERATOR, rt.now(), rt.db);
        return { out: s.ref, position: s.position };
      });
    }
    case 'projections status': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      if (values.help) return HELP[key]!;
      return withProjections(async (access) => {
        const items = await access.status();
        return values.json ? JSON.stringify(items, null, 2) : statusTable(items);
      });
    }
    case 'projections rebuild': {
      const { values, positionals } = parse(rest, { all: { type: 'boolean' } }, rest.includes('--all') ? 0 : 1);
      if (values.help) return HELP[key]!;
      return withProjections(async (access) => {
        const known = (await access.status()).map((p) => p.name);
        const names = values.all ? known : positionals;
        for (const n of names) if (!known.includes(n)) throw new UsageError(`no projection named ${n} (known: ${known.join(', ')})`);
        return rebuildWithProgress(access, names, { isTTY: process.stderr.isTTY === true, write: (l) => process.stderr.write(l) });
      });
    }
    default:
      throw new UsageError(`unknown command '${key}' (see crm --help)`);
  }
}

async function audit(command: 'history' | 'state', args: string[]): Promise<string> {
  const { values, positionals } = parse(
    args,
    command === 'history' ? { json: { type: 'boolean' } } : { 'as-of': { type: 'string' } },
    args.some((a) => a === '--help' || a === '-h') ? 0 : 2,
  );
  if (values.help) return HELP[command]!;
  const { kind, id } = auditTarget(positionals);
  if (command === 'history') {
    return withAudit(async (access) => {
      const events = await access.history(kind, id);
      if (!events) throw new NotFoundError(`no ${kind} ${id}`);
      return values.json ? JSON.stringify(events, null, 2) : historyTable(events);
    });
  }
  const asOfText = values['as-of'];
  if (asOfText !== undefined && !isoInstant.safeParse(asOfText).success)
    throw new UsageError('--as-of must be an ISO time with its offset, e.g. 2026-12-01T09:00:00Z');
  const asOf = typeof asOfText === 'string' ? new Date(asOfText) : null;
  return withAudit(async (access) => {
    const state = await access.state(kind, id, asOf);
    if (!state) throw new NotFoundError(`no ${kind} ${id}`);
    return JSON.stringify(state, null, 2);
  });
}

// Run only as a program (tests import `run`).
const invokedDirectly = process.argv[1] && /(?:cli\/main\.ts|bin\/crm(?:\.js)?)$/.test(process.argv[1]);
if (invokedDirectly) {
  run(process.argv.slice(2)).then(
    (out) => {
      process.stdout.write(`${out}\n`);
    },
    (err: unknown) => {
      if (
        err instanceof UsageError ||
        err instanceof NotFoundError ||
        err instanceof ConfigError ||
        err instanceof DataDirBusyError ||
        err instanceof DomainError ||
        err instanceof MasterKeyMismatchError ||
        err instanceof ServerApiError
      ) {
        process.stderr.write(`crm: ${err.message.split('\n').join(' ')}\n`);
        process.exitCode = err instanceof UsageError ? 2 : 1;
        return;
      }
      process.stderr.write('crm: failed: a backend is unreachable or failing (set LOG_LEVEL=debug for details)\n');
      if (process.env.LOG_LEVEL === 'debug') process.stderr.write(`${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

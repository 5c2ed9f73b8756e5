import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, type LookupFunction, isIP } from 'node:net';
import { Agent, type Dispatcher, buildConnector } from 'undici';

/**
 * Where a company's configuration may make this server connect. An outbox's `baseUrl` and an SMTP secret name
 * a host: without a guard, a company could make the server call the operator's own network (loopback admin
 * routes, cloud metadata, private services) with a credential attached, and read the answers back in
 * activity errors. In `authenticated` mode every such connection is checked on the address actually dialled
 * (after DNS, so a name cannot resolve to a private address between a check and the connect).
 */

/** CRM_EGRESS_ALLOW, parsed: what the operator lets through although it is private. */
export interface EgressAllowance {
  /** `10.0.0.0/8`, `fd00::/8`: any port at an address inside. */
  cidrs: string[];
  /** `relay.internal:2525`, `127.0.0.1:9901`, `[::1]:25`: that host (as written in the URL) at that port only. */
  hostPorts: string[];
}

export const NO_ALLOWANCE: EgressAllowance = { cidrs: [], hostPorts: [] };

/** What a host name resolves to; tests inject their own instead of relying on the system resolver. */
export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;

export class EgressRefusedError extends Error {
  override readonly name = 'EgressRefusedError';
  readonly code = 'EGRESS_REFUSED';
}

const RANGES_V4: [string, number][] = [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 included
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local: cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking, used inside networks
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast included
];
const RANGES_V6: [string, number][] = [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible forms
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some)
  ['ff00::', 8], // multicast
  // Local-use IPv4/IPv6 translation (RFC 8215): the site picks its translation prefixes (a /64, a /96…) inside
  // it, so where an IPv4 address sits is unknown, and local means the operator's network.
  ['64:ff9b:1::', 48],
];

/**
 * Private, loopback, link-local… addresses, also as IPv6 addresses that carry them to a gateway which connects
 * to them: NAT64's well-known prefix (RFC 6052 §2.2, the IPv4 address in the last 32 bits) and 6to4 (RFC 3056
 * §2, in the 32 bits after 2002::/16). IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is matched by BlockList itself.
 */
const FORBIDDEN = new BlockList();
for (const [a, p] of RANGES_V4) {
  FORBIDDEN.addSubnet(a, p, 'ipv4');
  const [o1, o2, o3, o4] = a.split('.').map(Number) as [number, number, number, number];
  const [hi, lo] = [((o1 << 8) | o2).toString(16), ((o3 << 8) | o4).toString(16)];
  FORBIDDEN.addSubnet(`64:ff9b::${hi}:${lo}`, 96 + p, 'ipv6');
  FORBIDDEN.addSubnet(`2002:${hi}:${lo}::`, 16 + p, 'ipv6');
}
for (const [a, p] of RANGES_V6) FORBIDDEN.addSubnet(a, p, 'ipv6');

/** Whether connecting to this IP address (a literal) could reach the operator's own network. */
export function isForbiddenAddress(ip: string): boolean {
  const bare = ip.split('%')[0]!;
  const family = isIP(bare);
  if (family === 0) return true;
  return FORBIDDEN.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** `[::1]` -> `::1`, `Relay.Internal.` -> `relay.internal`: hosts compared as the URL parser gives them. */
function normalHost(host: string): string {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** `localhost` and its subdomains are loopback by definition (RFC 6761), whatever a resolver says. */
const isLocalhostName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Reads CRM_EGRESS_ALLOW: comma-separated CIDRs (`10.0.0.0/8`, `fd00::/8`) and `host:port` pairs
 * (`relay.internal:2525`, `[::1]:2525`). Throws an Error naming the first entry it cannot read.
 */
export function parseEgressAllow(value: string): EgressAllowance {
  const out: EgressAllowance = { cidrs: [], hostPorts: [] };
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      const family = isIP(cidr[1]!);
      const prefix = Number(cidr[2]);
      if (family === 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`'${entry}' is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)`);
      out.cidrs.push(`${cidr[1]!.toLowerCase()}/${prefix}`);
      continue;
    }
    const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(entry);
    const host = hp ? normalHost(hp[1]!) : '';
    const port = hp ? Number(hp[2]) : 0;
    const hostOk = hp?.[1]!.startsWith('[') ? isIP(host) === 6 : isIP(host) === 4 || HOST_NAME.test(host);
    if (!hp || !hostOk || port < 1 || port > 65535) {
      throw new Error(`'${entry}' is neither a CIDR (10.0.0.0/8) nor a host:port (relay.internal:2525)`);
    }
    out.hostPorts.push(`${isIP(host) === 6 ? `[${host}]` : host}:${port}`);
  }
  return out;
}

export interface EgressPolicy {
  /** False in `local_trusted` mode: one operator on loopback, whose own relays and stand-ins are fine. */
  readonly restricted: boolean;
  /**
   * A refusal known without any lookup (an IP literal in a refused range, or `localhost`), to report when an
   * outbox is written; null when the host may be fine (a name is checked when it is dialled).
   */
  refusalOf(host: string, port: number): string | null;
  /** Plain http carries the credential in clear: only to this machine in local_trusted, or to an allowed host. */
  allowsPlainHttp(host: string, port: number): boolean;
  /**
   * Where to connect for `host:port`: null to dial the host as given (no restriction applies), else the
   * checked addresses (never empty). Throws `EgressRefusedError` when every address is refused.
   */
  addressesFor(host: string, port: number): Promise<{ address: string; family: number }[] | null>;
  /** The fetch dispatcher that checks each connection as it is made; undefined when nothing is restricted. */
  readonly dispatcher: Dispatcher | undefined;
  close(): Promise<void>;
}

const INTERNAL = 'loopback, private, link-local or otherwise internal';
const OPERATOR_MAY = 'which this instance does not connect to (an operator can allow it with CRM_EGRESS_ALLOW)';
const REFUSED_MESSAGE = `is a ${INTERNAL} address, ${OPERATOR_MAY}`;

/**
 * The policy of one instance: `restricted` in `authenticated` mode, with the operator's allowance. `resolve`
 * replaces the system resolver (tests).
 */
export function egressPolicy(opts: { restricted: boolean; allow?: EgressAllowance; resolve?: Resolve }): EgressPolicy {
  const allow = opts.allow ?? NO_ALLOWANCE;
  const resolve: Resolve = opts.resolve ?? ((host) => dnsLookup(host, { all: true }));
  const allowedNets = new BlockList();
  for (const c of allow.cidrs) {
    const [a, p] = c.split('/') as [string, string];
    allowedNets.addSubnet(a, Number(p), isIP(a) === 6 ? 'ipv6' : 'ipv4');
  }
  const hostPorts = new Set(allow.hostPorts);
  const hostPortAllowed = (host: string, port: number) => {
    const h = normalHost(host);
    return hostPorts.has(`${isIP(h) === 6 ? `[${h}]` : h}:${port}`);
  };
  const inAllowedNet = (ip: string) => allowedNets.check(ip.split('%')[0]!, isIP(ip.split('%')[0]!) === 6 ? 'ipv6' : 'ipv4');
  const addressAllowed = (ip: string) => !isForbiddenAddress(ip) || inAllowedNet(ip);
  /** A literal or localhost that the allowance lets through explicitly (not merely "not private"). */
  const explicitlyAllowed = (host: string, port: number) => {
    const h = normalHost(host);
    if (hostPortAllowed(h, port)) return true;
    if (isIP(h)) return inAllowedNet(h);
    return isLocalhostName(h) && (inAllowedNet('127.0.0.1') || inAllowedNet('::1'));
  };

  const policy: EgressPolicy = {
    restricted: opts.restricted,
    refusalOf(host, port) {
      if (!opts.restricted) return null;
      const h = normalHost(host);
      if (!isIP(h) && !isLocalhostName(h)) return null;
      if (explicitlyAllowed(h, port)) return null;
      if (isIP(h) && !isForbiddenAddress(h)) return null;
      return `${isIP(h) ? h : 'localhost'} ${REFUSED_MESSAGE}`;
    },
    allowsPlainHttp(host, port) {
      const h = normalHost(host);
      if (explicitlyAllowed(h, port)) return true;
      return !opts.restricted && (isLocalhostName(h) || (isIP(h) === 4 && h.startsWith('127.')) || h === '::1');
    },
    async addressesFor(host, port) {
      if (!opts.restricted || hostPortAllowed(host, port)) return null;
      const h = normalHost(host);
      if (isIP(h)) {
        if (!addressAllowed(h)) throw new EgressRefusedError(`${h} ${REFUSED_MESSAGE}`);
        return [{ address: h, family: isIP(h) }];
      }
      const all = isLocalhostName(h)
        ? [
            { address: '127.0.0.1', family: 4 },
            { address: '::1', family: 6 },
          ]
        : await resolve(h);
      // Only the checked addresses are dialled: a name with one public and one private address reaches the public one.
      const ok = all.filter((a) => addressAllowed(a.address));
      // The refused address is not named: it would tell what an internal name resolves to.
      if (ok.length === 0) throw new EgressRefusedError(`${h} resolves only to ${INTERNAL} addresses, ${OPERATOR_MAY}`);
      return ok;
    },
    dispatcher: undefined,
    close: async () => {},
  };
  if (!opts.restricted) return policy;

  // The check happens inside the connect: net.connect asks this lookup for the addresses it then dials, so
  // nothing is resolved twice. An IP literal skips the lookup, and is checked before the connector runs.
  const open = buildConnector({ lookup: lookupWith(resolve) });
  const checked = buildConnector({ lookup: lookupWith(async (host) => (await policy.addressesFor(host, 0)) ?? resolve(host)) });
  const connect: buildConnector.connector = (options, callback) => {
    const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
    if (hostPortAllowed(options.hostname, port)) return open(options, callback);
    const h = normalHost(options.hostname);
    if (isIP(h) && !addressAllowed(h)) {
      callback(new EgressRefusedError(`${h} ${REFUSED_MESSAGE}`), null);
      return;
    }
    checked(options, callback);
  };
  const agent = new Agent({ connect });
  return { ...policy, dispatcher: agent, close: () => agent.close() };
}

/** A `net.connect` lookup over a promise of addresses, honouring the family and `all` it is asked for. */
function lookupWith(find: Resolve): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    const family = options.family === 'IPv4' || options.family === 4 ? 4 : options.family === 'IPv6' || options.family === 6 ? 6 : 0;
    find(hostname).then(
      (found) => {
        const list = found.filter((a) => family === 0 || a.family === family);
        if (list.length === 0) return callback(Object.assign(new Error(`no usable address for ${hostname}`), { code: 'ENOTFOUND' }));
        if (options.all) return callback(null, list);
        return callback(null, list[0]!.address, list[0]!.family);
      },
      (err: unknown) => callback(err),
    );
  }) as unknown as LookupFunction;
}

/** No restriction: `local_trusted` mode, and adapters built without a policy (direct use in tests). */
export const UNRESTRICTED: EgressPolicy = egressPolicy({ restricted: false });

import { afterEach, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import { type EgressPolicy, type Resolve, egressPolicy, isForbiddenAddress, parseEgressAllow } from '../../src/channels/egress.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

/** A resolver that knows a few names, as a DNS server controlled by a company would answer them. */
const names: Record<string, string[]> = {
  'loopback.example': ['127.0.0.1'],
  'metadata.example': ['169.254.169.254'],
  'mixed.example': ['10.0.0.7', '93.184.215.14'],
  'public.example': ['93.184.215.14'],
  'mapped.example': ['::ffff:127.0.0.1'],
};
const resolve: Resolve = async (host) => {
  const found = names[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

describe('which addresses are internal', () => {
  it('refuses loopback, RFC 1918, link-local, CGNAT, unique-local, unspecified, multicast, and their IPv4-mapped forms', () => {
    for (const ip of [
      '127.0.0.1',
      '127.255.0.9',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.127.255.254',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '::',
      '::1',
      'fe80::1',
      'fe80::1%eth0',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::ffff:a9fe:a9fe',
      '0:0:0:0:0:ffff:c0a8:101',
      '64:ff9b::10.0.0.1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::1',
    ]) {
      expect(isForbiddenAddress(ip), ip).toBe(true);
    }
  });

  it('lets public addresses through, also next to the refused ranges', () => {
    for (const ip of [
      '93.184.215.14',
      '8.8.8.8',
      '172.32.0.1',
      '172.15.255.255',
      '100.128.0.1',
      '100.63.255.255',
      '169.255.0.1',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
      '64:ff9b::8.8.8.8',
    ]) {
      expect(isForbiddenAddress(ip), ip).toBe(false);
    }
  });

  // RFC 6052 §2.2: with the /96 well-known prefix the IPv4 address is bits 96-127. RFC 8215 reserves
  // 64:ff9b:1::/48 for local-use translation, inside which a site picks its own prefixes (a /64 was the
  // shortest seen deployed, its §3): where the IPv4 address sits is the site's choice, so all of it is internal.
  // RFC 3056 §2: 6to4 is 2002:V4ADDR::/48.
  it('refuses an internal IPv4 address carried by NAT64 (64:ff9b::/96) or 6to4 (2002::/16), and all of local-use 64:ff9b:1::/48', () => {
    for (const ip of [
      '64:ff9b::a9fe:a9fe',
      '64:ff9b::0:0:a00:1',
      '64:ff9b:0:0:0:0:192.168.1.1',
      '64:ff9b::e000:1',
      '64:ff9b::ffff:ffff',
      '64:ff9b:1:a00:0:100::',
      '64:ff9b:1:7f00:0:100::',
      '64:ff9b:1:a9fe:a9:fe00::',
      '64:ff9b:1:ac1f:ff:ff00::',
      '64:ff9b:1:c0a8:1:100::1',
      '64:ff9b:1:808:8:800::',
      '64:ff9b:1:ffff::808:808',
      '64:ff9b:1:808:ff08:800::',
      '2002:a9fe:a9fe::1',
      '2002:c0a8:101:1::1',
      '2002:a00:1::',
      '2002:6440:1::',
    ]) {
      expect(isForbiddenAddress(ip), ip).toBe(true);
    }
    for (const ip of [
      '2002:808:808::1',
      '2002:5db8:d70e::25',
      '64:ff9b::808:808',
      '64:ff9b::5db8:d70e',
      '64:ff9b:2::a00:1',
      '64:ff9a:ffff::a00:1',
    ]) {
      expect(isForbiddenAddress(ip), ip).toBe(false);
    }
  });

  it('refuses what is not an IP address at all', () => {
    expect(isForbiddenAddress('localhost')).toBe(true);
  });
});

describe('CRM_EGRESS_ALLOW', () => {
  it('reads CIDRs and host:port pairs, ignoring blanks around commas', () => {
    expect(parseEgressAllow(' 10.0.0.0/8, fd00::/8 ,relay.Internal:2525,127.0.0.1:9901,[::1]:25,')).toEqual({
      cidrs: ['10.0.0.0/8', 'fd00::/8'],
      hostPorts: ['relay.internal:2525', '127.0.0.1:9901', '[::1]:25'],
    });
    expect(parseEgressAllow('')).toEqual({ cidrs: [], hostPorts: [] });
  });

  it('is read by loadConfig; a bad value is a ConfigError naming the variable and the entry', () => {
    expect(loadConfig({}).egressAllow).toEqual({ cidrs: [], hostPorts: [] });
    expect(loadConfig({ CRM_EGRESS_ALLOW: '10.0.0.0/8,relay.internal:2525' }).egressAllow).toEqual({
      cidrs: ['10.0.0.0/8'],
      hostPorts: ['relay.internal:2525'],
    });
    expect(() => loadConfig({ CRM_EGRESS_ALLOW: '10.0.0.0/8,relay.internal' })).toThrow(ConfigError);
    expect(() => loadConfig({ CRM_EGRESS_ALLOW: '10.0.0.0/8,relay.internal' })).toThrow(
      /CRM_EGRESS_ALLOW: 'relay.internal' is neither a CIDR/,
    );
  });

  it('names the entry it cannot read', () => {
    for (const bad of [
      '10.0.0.0/33',
      'fd00::/129',
      'nothost/8',
      '10.0.0.1',
      'relay.internal',
      'relay.internal:0',
      'relay.internal:70000',
      'under_score:25',
      '[relay]:25',
      '::1:25',
      'http://relay:25',
    ]) {
      expect(() => parseEgressAllow(bad), bad).toThrow(`'${bad}'`);
    }
  });
});

describe('the egress policy', () => {
  const restricted = (allow = '') => egressPolicy({ restricted: true, allow: parseEgressAllow(allow), resolve });
  const policies: EgressPolicy[] = [];
  afterEach(async () => {
    await Promise.all(policies.splice(0).map((p) => p.close()));
  });
  const track = (p: EgressPolicy) => (policies.push(p), p);

  it('knows a literal refusal before any lookup: private IPs and localhost; a name waits for its lookup', () => {
    const p = track(restricted());
    for (const host of [
      '127.0.0.1',
      '[::1]',
      '10.0.0.1',
      '169.254.169.254',
      'localhost',
      'LOCALHOST.',
      'api.localhost',
      '[::ffff:127.0.0.1]',
    ]) {
      expect(p.refusalOf(host, 443), host).toMatch(/CRM_EGRESS_ALLOW/);
    }
    expect(p.refusalOf('93.184.215.14', 443)).toBeNull();
    expect(p.refusalOf('metadata.google.internal', 443)).toBeNull();
  });

  it('an allowance lifts exactly what it names', () => {
    const p = track(restricted('10.1.0.0/16,127.0.0.1:9901'));
    expect(p.refusalOf('10.1.2.3', 443)).toBeNull();
    expect(p.refusalOf('10.2.0.1', 443)).not.toBeNull();
    expect(p.refusalOf('127.0.0.1', 9901)).toBeNull();
    expect(p.refusalOf('127.0.0.1', 9902)).not.toBeNull();
    expect(p.allowsPlainHttp('10.1.2.3', 80)).toBe(true);
    expect(p.allowsPlainHttp('127.0.0.1', 9901)).toBe(true);
    expect(p.allowsPlainHttp('127.0.0.1', 9902)).toBe(false);
    expect(p.allowsPlainHttp('api.example', 80)).toBe(false);
  });

  it('local_trusted refuses nothing, and allows plain http to loopback only', async () => {
    const p = egressPolicy({ restricted: false, resolve });
    expect(p.refusalOf('127.0.0.1', 80)).toBeNull();
    expect(await p.addressesFor('loopback.example', 80)).toBeNull();
    expect(p.dispatcher).toBeUndefined();
    expect(p.allowsPlainHttp('127.0.0.1', 80)).toBe(true);
    expect(p.allowsPlainHttp('localhost', 80)).toBe(true);
    expect(p.allowsPlainHttp('::1', 80)).toBe(true);
    expect(p.allowsPlainHttp('10.0.0.1', 80)).toBe(false);
    expect(p.allowsPlainHttp('api.example', 80)).toBe(false);
  });

  it('resolves a name and keeps only the addresses it may dial', async () => {
    const p = track(restricted());
    await expect(p.addressesFor('loopback.example', 443)).rejects.toMatchObject({ code: 'EGRESS_REFUSED' });
    await expect(p.addressesFor('metadata.example', 443)).rejects.toMatchObject({ code: 'EGRESS_REFUSED' });
    await expect(p.addressesFor('mapped.example', 443)).rejects.toMatchObject({ code: 'EGRESS_REFUSED' });
    await expect(p.addressesFor('localhost', 443)).rejects.toMatchObject({ code: 'EGRESS_REFUSED' });
    expect(await p.addressesFor('mixed.example', 443)).toEqual([{ address: '93.184.215.14', family: 4 }]);
    expect(await p.addressesFor('public.example', 443)).toEqual([{ address: '93.184.215.14', family: 4 }]);
    await expect(p.addressesFor('nowhere.example', 443)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('the refusal does not say what an internal name resolves to', async () => {
    const err = await track(restricted())
      .addressesFor('metadata.example', 443)
      .catch((e: unknown) => e as Error);
    expect(String((err as Error).message)).not.toContain('169.254');
  });
});

describe('connections through the policy dispatcher (a loopback listener plays an internal service)', () => {
  let server: Awaited<ReturnType<typeof fakeHttpServer>> | undefined;
  const policies: EgressPolicy[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await Promise.all(policies.splice(0).map((p) => p.close()));
  });
  const policy = (allow = '') => {
    const p = egressPolicy({ restricted: true, allow: parseEgressAllow(allow), resolve });
    policies.push(p);
    return p;
  };
  const get = (url: string, p: EgressPolicy) =>
    fetch(url, { dispatcher: p.dispatcher }).then(
      (r) => r.status,
      (e: unknown) => (e as { cause?: { code?: string } }).cause?.code ?? 'no cause',
    );
  const port = () => Number(new URL(server!.url).port);

  it('refuses 127.0.0.1, localhost and a name resolving to loopback: the listener hears nothing', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 200, {}));
    const p = policy();
    expect(await get(`${server.url}/internal/admin`, p)).toBe('EGRESS_REFUSED');
    expect(await get(`http://localhost:${port()}/`, p)).toBe('EGRESS_REFUSED');
    expect(await get(`http://loopback.example:${port()}/`, p)).toBe('EGRESS_REFUSED');
    expect(await get(`http://mapped.example:${port()}/`, p)).toBe('EGRESS_REFUSED');
    expect(await get(`http://[::ffff:127.0.0.1]:${port()}/`, p)).toBe('EGRESS_REFUSED');
    expect(server.received).toHaveLength(0);
  });

  it('an allowed CIDR lets its addresses through, by literal and by name; a neighbouring one does not', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 200, {}));
    expect(await get(`http://loopback.example:${port()}/`, policy('127.0.0.1/32'))).toBe(200);
    expect(await get(`${server.url}/`, policy('127.0.0.1/32'))).toBe(200);
    expect(await get(`${server.url}/`, policy('127.0.0.2/32'))).toBe('EGRESS_REFUSED');
    expect(server.received).toHaveLength(2);
  });

  it('an allowed host:port lets that pair through and no other port', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 200, {}));
    expect(await get(`${server.url}/`, policy(`127.0.0.1:${port()}`))).toBe(200);
    expect(await get(`http://loopback.example:${port()}/`, policy(`loopback.example:${port()}`))).toBe(200);
    expect(await get(`${server.url}/`, policy(`127.0.0.1:${port() === 65535 ? 1 : port() + 1}`))).toBe('EGRESS_REFUSED');
    expect(server.received).toHaveLength(2);
  });
});

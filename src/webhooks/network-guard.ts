import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ConfigError, type Config } from '../config/index.js';

/**
 * Where Pier may send webhooks (merchant Notification URLs and per-payment `notice_url`, which
 * anyone can put in a payment window). In production only public unicast addresses are allowed:
 * loopback, private (RFC 1918, CGNAT, unique-local), link-local (cloud metadata at 169.254.169.254),
 * multicast, unspecified and reserved ranges are refused. The check runs on the addresses DNS
 * actually returned, inside the connection's own lookup, so a name that resolves to a public
 * address for a validation and to 127.0.0.1 for the request (DNS rebinding) is still refused.
 * Redirects are never followed. Operators can allow internal receivers explicitly.
 *
 * @example
 *   const guard = DestinationGuard.production('hooks.internal, 10.20.0.0/16');
 *   guard.refusesAddress('127.0.0.1')   // true
 *   guard.refusesAddress('10.20.1.5')   // false (allowed by the operator)
 */
export class DestinationGuard {
  private constructor(
    /** false in sandbox: every destination is allowed (localhost development) */
    readonly enforcing: boolean,
    private readonly allowedHosts: Set<string>,
    private readonly allowedRanges: [ipaddr.IPv4 | ipaddr.IPv6, number][],
  ) {}

  static sandbox(): DestinationGuard {
    return new DestinationGuard(false, new Set(), []);
  }

  /** `allow`: comma-separated host names, IP addresses or CIDRs that are allowed although internal. */
  static production(allow = ''): DestinationGuard {
    const hosts = new Set<string>();
    const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
    for (const entry of allow.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
      if (entry.includes('/')) ranges.push(parseCidr(entry));
      else if (isIP(entry)) ranges.push([ipaddr.process(entry), ipaddr.process(entry).kind() === 'ipv4' ? 32 : 128]);
      else if (/^[a-z0-9.-]+$/.test(entry)) hosts.add(entry.replace(/\.$/, ''));
      else throw new Error(`webhooks.allowPrivate: "${entry}" is not a host name, IP address or CIDR`);
    }
    return new DestinationGuard(true, hosts, ranges);
  }

  /** true when a host name was allowed by the operator (its addresses are then not checked) */
  allowsHost(hostname: string): boolean {
    return this.allowedHosts.has(hostname.toLowerCase().replace(/\.$/, ''));
  }

  /** true when Pier must not connect to this address */
  refusesAddress(address: string): boolean {
    if (!this.enforcing) return false;
    let ip: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      // IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it is
      ip = ipaddr.process(address);
    } catch {
      return true;
    }
    if (this.allowedRanges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net as never, bits))) return false;
    // IPv6 has public unicast only in 2000::/3; ipaddr.js calls most of the IETF-reserved rest
    // "unicast", among it the IPv4-compatible ::/96 that `[::127.0.0.1]` is spelled as (::7f00:1)
    if (ip.kind() === 'ipv6' && !(ip as ipaddr.IPv6).match(IPV6_GLOBAL_UNICAST)) return true;
    return ip.range() !== 'unicast';
  }

  /**
   * A `lookup` for net/tls connect: resolves as usual, then fails with `PIER_DESTINATION_REFUSED`
   * when any address returned is refused (a host name the operator allowed is not checked).
   */
  readonly lookup = this.lookupVia(dnsLookup);

  /** The same `lookup`, resolving with `resolveHost` (called with `all: true`) instead of dns.lookup. */
  lookupVia(resolveHost: HostLookup): typeof dnsLookup {
    return ((host: string, options: any, callback: any) => {
      const cb = typeof options === 'function' ? options : callback;
      const opts = typeof options === 'function' ? {} : typeof options === 'number' ? { family: options } : (options ?? {});
      const check = this.enforcing && !this.allowsHost(host);
      resolveHost(host, { ...opts, all: true }, (err, addresses) => {
        if (err) return cb(err);
        if (check && (addresses.length === 0 || addresses.some((a) => this.refusesAddress(a.address)))) return cb(refusedError());
        if (opts.all) return cb(null, addresses);
        cb(null, addresses[0].address, addresses[0].family);
      });
    }) as unknown as typeof dnsLookup;
  }

  /** Refuses a URL whose host is an IP literal in a refused range (connect does no lookup for those). */
  refusesUrl(url: URL): boolean {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return isIP(host) !== 0 && this.refusesAddress(host);
  }
}

/** dns.lookup with `all: true`: how a host name becomes the addresses to connect to. */
export type HostLookup = (host: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/** IPv6 global unicast, IANA's IPv6 address space registry (RFC 4291): every other IPv6 address is no public destination. */
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');

export const DESTINATION_REFUSED = 'PIER_DESTINATION_REFUSED';

export function refusedError(): Error {
  return Object.assign(new Error('destination refused: not a public address'), { code: DESTINATION_REFUSED });
}

function parseCidr(entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  try {
    const [ip, bits] = ipaddr.parseCIDR(entry);
    return [ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address() : ip, ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? bits - 96 : bits];
  } catch {
    throw new Error(`webhooks.allowPrivate: "${entry}" is not a valid CIDR`);
  }
}

/** The guard for this installation: enforcing in production (with the operator's allow-list), open in sandbox. */
export function destinationGuard(config: Pick<Config, 'mode' | 'webhooks'>): DestinationGuard {
  return config.mode === 'production' ? DestinationGuard.production(config.webhooks.allowPrivate) : DestinationGuard.sandbox();
}

/**
 * The guard every Pier process of this configuration uses, the server's and the CLI's alike, so a
 * URL one accepts the other does not refuse (a `pier webhooks endpoint` in production with
 * webhooks.allowPrivate). A list that does not parse is a configuration error, also in sandbox,
 * where nothing is guarded: the same settings go to production next.
 */
export function webhookDestinationGuard(config: Pick<Config, 'mode' | 'webhooks'>): DestinationGuard {
  try {
    if (config.mode !== 'production') destinationGuard({ ...config, mode: 'production' });
    return destinationGuard(config);
  } catch (err) {
    throw new ConfigError(`invalid configuration key "webhooks.allowPrivate": ${(err as Error).message}`);
  }
}

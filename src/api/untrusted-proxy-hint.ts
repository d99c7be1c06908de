import { BlockList, isIPv4 } from 'node:net';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Logger } from '../lib/logger.js';

/** Where a reverse proxy in front of Pier connects from: loopback and private networks. */
const PRIVATE = new BlockList();
for (const [net, bits] of [['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10]] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

function isPrivate(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  return PRIVATE.check(v4, isIPv4(v4) ? 'ipv4' : 'ipv6');
}

export const UNTRUSTED_PROXY_HINT =
  'a request came through a reverse proxy (X-Forwarded-For from a private address) but PIER_TRUST_PROXY is not set: ' +
  "every buyer counts as the proxy's address (the payment window's per-address allowances, the console's sign-in lockout, the logs) " +
  "and the proxy's https is not seen; set PIER_TRUST_PROXY to the proxy's address (docs/operations.md, \"Behind a reverse proxy\")";

/**
 * An onRequest hook for a Pier with no trusted proxy: the first request that arrives with
 * X-Forwarded-For from a loopback or private address (what a reverse proxy on the same host or
 * network looks like) logs UNTRUSTED_PROXY_HINT once. Without `trustProxy`, Fastify rightly
 * ignores the header, so every buyer behind the proxy shares one address: after a few hundred
 * checkouts in ten minutes the window refuses all of them (decision 0059). Nothing is answered
 * differently; the line names no address (the proxy's is internal). A client far away that sends
 * the header itself (a forward proxy of its own) connects from a public address and is not taken
 * for a reverse proxy.
 */
export function untrustedProxyHint(logger: Logger) {
  let told = false;
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (!told && req.headers['x-forwarded-for'] !== undefined && isPrivate(req.socket.remoteAddress)) {
      told = true;
      logger.warn(UNTRUSTED_PROXY_HINT);
    }
    done();
  };
}

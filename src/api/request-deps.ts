import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { Deps } from '../core/deps.js';
import type { Logger } from '../lib/logger.js';

/**
 * The deps a request's handler passes to the use cases: the process's, with the request's logger
 * (Fastify's child, bound to `reqId`), connectors that log their PG calls to it, and the request
 * id the webhook events it causes are written with. So `grep <reqId>` shows one payment end to
 * end without AsyncLocalStorage, whose promise hooks cost every promise of every request on
 * Node 20 (docs/performance.md, decision 0026).
 *
 * @example
 *   app.post('/subscribe/payments/again', opts, async (req) => ok(await payAgain(req.deps, order)));
 */
export function requestDeps(deps: Deps, requestId: string, log: FastifyBaseLogger, socket?: Socket): Deps {
  const logger = log as Logger;
  // every key written out: a spread followed by new keys is a slow path on Node 20 (decision 0025)
  return {
    store: deps.store,
    vault: deps.vault,
    clock: deps.clock,
    connectors: deps.connectors.loggingTo ? deps.connectors.loggingTo(logger) : deps.connectors,
    logger,
    mode: deps.mode,
    metrics: deps.metrics,
    rateLimits: deps.rateLimits,
    checkoutRateLimits: deps.checkoutRateLimits,
    destinationGuard: deps.destinationGuard,
    requestId,
    // a client that hung up or reset: the socket is ended or destroyed (an injected request's
    // stand-in socket has neither property, and is never gone)
    clientGone: socket ? () => socket.destroyed === true || socket.writable === false : undefined,
    newImpUid: deps.newImpUid,
    stopping: deps.stopping,
  };
}

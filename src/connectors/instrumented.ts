/**
 * Every PG call goes through here once: it is timed into `pier_pg_call_duration_seconds` by
 * operation and outcome and logged (to the serving request's logger, so with its id, when the
 * registry came from `loggingTo`), so the connectors themselves stay wire-only and a new PG is
 * measured without extra code.
 *
 * @example
 *   const connectors = instrumentConnectors(createConnectorRegistry(config), { metrics, logger });
 *   connectors.loggingTo(req.log).get('jtnet'); // its "PG call" lines carry the request's reqId
 */
import type { Logger } from '../lib/logger.js';
import type { PgCallOutcome, PierMetrics } from '../operations/metrics.js';
import type { ConnectorRegistry } from './registry.js';
import { ConnectorError, type Connector } from './types.js';

const OPERATIONS = ['issueBillingKey', 'deleteBillingKey', 'chargeKeyIn', 'chargeBillingKey', 'refund', 'revokeVbank', 'inquire', 'inquireBillingKey', 'voidUnknownAttempt'] as const;
const WINDOW_OPERATIONS = ['approveWindowResult', 'confirmWindowResult'] as const;

/** A PG call's outcome from its result: a decline is an answer, not a failure. */
export function outcomeOf(result: unknown): PgCallOutcome {
  const r = result as { outcome?: string } | undefined;
  return r && typeof r === 'object' && r.outcome === 'declined' ? 'declined' : 'approved';
}

/** A PG call's outcome from what it threw: in doubt when the PG may have acted, unreachable when it never got the request. */
export function failureOutcomeOf(err: unknown): PgCallOutcome {
  if (!(err instanceof ConnectorError)) return 'refused';
  if (err.inDoubt) return 'in_doubt';
  return err.kind === 'connect' ? 'unreachable' : 'refused';
}

export function instrumentConnectors(registry: ConnectorRegistry, o: { metrics?: PierMetrics; logger: Logger; now?: () => number }): ConnectorRegistry {
  const now = o.now ?? (() => performance.now());
  const instrumenters = new Map<string, (logger: Logger) => Connector>();
  const instrumenterOf = (provider: string) => {
    let make = instrumenters.get(provider);
    if (!make) {
      const bare = registry.get(provider);
      if (!bare) return undefined;
      instrumenters.set(provider, (make = instrumenter(bare, o.metrics, now)));
    }
    return make;
  };
  const loggingTo = (logger: Logger): ConnectorRegistry => {
    // wrapped on first use: a request's registry is made for every request, most use one PG or none
    let wrapped: Map<string, Connector> | undefined;
    // every key written out: a spread followed by new keys is a slow path on Node 20 (decision 0025);
    // `get` a method: see recordCall
    return {
      get(provider: string) {
        let c = wrapped?.get(provider);
        if (!c) {
          const make = instrumenterOf(provider);
          if (!make) return undefined;
          (wrapped ??= new Map()).set(provider, (c = make(logger)));
        }
        return c;
      },
      providers: registry.providers,
      unconfigured: registry.unconfigured,
      sandboxHost: registry.sandboxHost,
      label: registry.label,
      channelRules: registry.channelRules,
      maxCallMs: registry.maxCallMs,
      maxOperationMs: registry.maxOperationMs,
      close: registry.close,
      loggingTo,
    };
  };
  return loggingTo(o.logger);
}

type Operation = (...args: unknown[]) => Promise<unknown>;

/**
 * What wrapping `c` for one logger needs, prepared once per process (the bound methods); the
 * returned function then only makes the wrappers, once per request that calls this PG.
 */
function instrumenter(c: Connector, metrics: PierMetrics | undefined, now: () => number): (logger: Logger) => Connector {
  const bound = (target: object, names: readonly string[]) =>
    names.flatMap((op) => {
      const fn = (target as Record<string, unknown>)[op];
      return typeof fn === 'function' ? [[op, (fn as Operation).bind(target)] as const] : [];
    });
  const ops = bound(c, OPERATIONS);
  const windowOps = c.window ? bound(c.window, WINDOW_OPERATIONS) : [];
  return (logger) => {
    // a plain copy, not a prototype link: callers may spread a connector ({ ...c, ...override })
    const out: Record<string, unknown> = { ...c };
    for (const [op, fn] of ops) out[op] = timed(c.provider, op, fn, metrics, logger, now);
    if (c.window) {
      const w: Record<string, unknown> = { ...c.window };
      for (const [op, fn] of windowOps) w[op] = timed(c.provider, op, fn, metrics, logger, now);
      out.window = w;
    }
    return out as unknown as Connector;
  };
}

function timed(pg: string, operation: string, fn: Operation, metrics: PierMetrics | undefined, logger: Logger, now: () => number): Operation {
  return async (...args) => {
    const started = now();
    try {
      const result = await fn(...args);
      recordCall(pg, operation, args, now() - started, metrics, logger, outcomeOf(result), declineOf(result));
      return result;
    } catch (err) {
      recordCall(pg, operation, args, now() - started, metrics, logger, failureOutcomeOf(err), { err: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  };
}

/**
 * A PG call's metric and log line. At module level: under tsx (esbuild's keepNames) a function made
 * inside another, arrow or declaration, is named with an Object.defineProperty every time it is made.
 */
function recordCall(pg: string, operation: string, args: unknown[], ms: number, metrics: PierMetrics | undefined, logger: Logger, outcome: PgCallOutcome, extra: object) {
  metrics?.observePgCall({ pg, operation, outcome, seconds: ms / 1000 });
  const line = { pg, operation, outcome, ms: Math.round(ms), ...orderOf(operation, args), ...extra };
  if (outcome === 'approved' || outcome === 'declined') logger.info(line, 'PG call');
  else logger.warn(line, 'PG call failed');
}

/**
 * The order id (and PG tid) of a call, for following one payment through the log. Only these:
 * the other arguments are card data, billing keys and credentials.
 */
function orderOf(operation: string, args: unknown[]): object {
  if (operation === 'confirmWindowResult' && typeof args[1] === 'string') return { tid: args[1] };
  const r = args[1] as { moid?: unknown; pgTid?: unknown } | undefined;
  if (r && typeof r === 'object' && typeof r.moid === 'string') return { moid: r.moid, ...(typeof r.pgTid === 'string' ? { tid: r.pgTid } : {}) };
  const q = args[2] as { moid?: unknown } | undefined;
  if (q && typeof q === 'object' && typeof q.moid === 'string') return { moid: q.moid };
  return {};
}

function declineOf(result: unknown): object {
  const r = result as { outcome?: string; code?: string } | undefined;
  return r && typeof r === 'object' && r.outcome === 'declined' ? { code: r.code } : {};
}

/**
 * Endpoints for operators and their tools, outside the V1 API (no merchant token, not in the
 * OpenAPI document):
 *   GET /health   the process is alive (no I/O), for liveness probes
 *   GET /ready    database, migrations, vault keys and every PG answer; 503 with what failed
 *   GET /metrics  Prometheus text format, behind `metrics.token`
 * and the per-request plumbing: request ids, request latency by route.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

// the V1 app's logger and type provider differ from Fastify's defaults; these routes need neither
type AnyFastify = FastifyInstance<any, any, any, any, any>;
import type { Deps } from '../core/deps.js';
import { systemClock } from '../lib/clock.js';
import { requestDeps } from '../api/request-deps.js';
import { PierMetrics } from './metrics.js';
import { checkReadiness, type ReadinessReport } from './readiness.js';

export interface OperationsOptions {
  /** bearer token for GET /metrics; empty: open in sandbox, 404 in production */
  metricsToken?: string;
  /** one of PIER_WORKERS' workers: every worker's counters, aggregated (cluster-metrics.ts) */
  workerMetrics?: () => Promise<string>;
  /** milliseconds on a monotonic clock, by which GET /ready reuses a recent run (tests; default performance.now) */
  clock?: () => number;
}

/**
 * How long GET /ready answers every caller with the run of its checks that started last (decision
 * 0116). /ready is public: run per request, anyone decided how often Pier asked its database (a
 * dozen statements, on the connections payments use) and its PG's host (over the agent payments
 * use). A probe every few seconds still sees a fresh run.
 */
export const READY_REUSE_MS = 1_000;

/** Hooks that must run before every other hook: the request's deps (its id and logger) and the latency timer. */
export function addRequestPlumbing(app: AnyFastify, deps: Deps): PierMetrics {
  const metrics = deps.metrics ?? new PierMetrics({ processMetrics: false });
  // null until the hook below sets it: declared up front so every request object has the same shape
  app.decorateRequest('deps', null as never);
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    req.deps = requestDeps(deps, req.id, req.log, req.raw.socket);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    // the route pattern (`/payments/:imp_uid`), never the raw URL, so labels stay few
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  return metrics;
}

export function registerOperationsRoutes(app: AnyFastify, deps: Deps, metrics: PierMetrics, opts: OperationsOptions): void {
  const startedAt = Date.now();
  const hidden = { hide: true } as const;

  app.get('/health', { config: { public: true }, schema: hidden }, async () => ({ status: 'ok', uptime_seconds: Math.floor((Date.now() - startedAt) / 1000) }));

  const readiness = sharedReadiness(deps, opts.clock ?? (() => performance.now()));
  app.get('/ready', { config: { public: true }, schema: hidden }, async (_req, reply) => {
    const report = await readiness();
    reply.header('cache-control', 'no-store');
    if (report.ready) return { status: 'ready', checks: report.checks };
    return reply.status(503).send({ status: 'unavailable', failed: report.failed, checks: report.checks });
  });

  const token = opts.metricsToken ?? '';
  app.get('/metrics', { config: { public: true }, schema: hidden }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if (!token && deps.mode === 'production') {
      return reply.status(404).send({ code: -1, message: 'metrics are off: set metrics.token (PIER_METRICS_TOKEN) to publish them', response: null });
    }
    if (token && !sameToken(bearerOf(req.headers.authorization), token)) {
      return reply.status(401).header('www-authenticate', 'Bearer realm="pier-metrics"').send({ code: -1, message: 'Unauthorized: GET /metrics needs Authorization: Bearer <metrics.token>', response: null });
    }
    const text = await metrics.scrape(deps.store, { pier: deps.clock, wall: systemClock }, opts.workerMetrics);
    return reply.type(metrics.contentType).send(text);
  });
}

/**
 * The readiness report, run at most once per READY_REUSE_MS and never twice at once: a caller
 * while a run is under way, or within READY_REUSE_MS of its start, is answered with that run.
 */
function sharedReadiness(deps: Deps, now: () => number): () => Promise<ReadinessReport> {
  let last: { startedAtMs: number; report: Promise<ReadinessReport>; done: boolean } | undefined;
  return () => {
    const t = now();
    if (last && (!last.done || (t >= last.startedAtMs && t - last.startedAtMs < READY_REUSE_MS))) return last.report;
    const run = { startedAtMs: t, report: checkReadiness(deps), done: false };
    const settled = () => {
      run.done = true;
    };
    run.report.then(settled, settled);
    last = run;
    return run.report;
  };
}

function bearerOf(header: string | undefined): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1] : '';
}

/** Compares digests, not the strings: their lengths are equal whatever was sent, so the time
 *  taken tells a caller nothing about the length of the operator's token. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

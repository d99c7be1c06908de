/**
 * Pier's Prometheus metrics (prom-client), one registry per app so tests can run several Piers.
 *
 * Two kinds, in two registries: what this process did (`registry`: HTTP requests, PG calls,
 * webhook attempts, CPU and memory; summed over PIER_WORKERS' workers at a scrape, and over Pier
 * processes by Prometheus), and what the database holds (`databaseRegistry`: backlogs, counts,
 * lag; gauges computed from the database at scrape time, so every process reports the same truth
 * however many share the database).
 *
 * @example
 *   const metrics = new PierMetrics();
 *   metrics.observePgCall({ pg: 'jtnet', operation: 'payments', outcome: 'approved', seconds: 0.12 });
 *   const text = await metrics.scrape(deps); // Prometheus text format
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { sql } from 'kysely';
import type { Clock } from '../lib/clock.js';
import { systemClock, unixSeconds } from '../lib/clock.js';
import type { Store } from '../store/db.js';
import { tableIndexedBy } from '../store/indexed-by.js';

/** How a PG call ended: an answer (approved or declined), or a technical failure, in doubt or not. */
export type PgCallOutcome = 'approved' | 'declined' | 'in_doubt' | 'unreachable' | 'refused';

// PG calls: tens of ms on a good day, the read timeout (30 s) on a bad one
const PG_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// event created -> receiver answered 2xx: seconds when healthy, hours while a receiver is down and retries back off
const WEBHOOK_LATENCY_BUCKETS = [0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];
// one claim statement: about a millisecond, up to the connection wait on an overloaded pool
const CLAIM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/**
 * `pier_payments` counts the whole payments table, the one gauge whose cost grows with the
 * installation's history (every other gauge reads a bounded backlog through an index). A count that
 * took at least SLOW_COUNT_MS is not run again before COUNT_SPACING times its duration has passed,
 * so it takes at most 1/COUNT_SPACING of the database's time however often Prometheus scrapes;
 * between two counts the gauge keeps its last values and `pier_payments_age_seconds` says how old.
 */
const SLOW_COUNT_MS = 50;
const COUNT_SPACING = 20;

export interface DbGaugeClocks {
  /** Pier's clock (the sandbox clock in sandbox): payments, refunds, schedules */
  pier: Clock;
  /** the real time: webhook deliveries are due on it */
  wall?: Clock;
}

export class PierMetrics {
  /** what this process did */
  readonly registry = new Registry();
  /** what the database holds, read at each scrape: never summed over workers */
  readonly databaseRegistry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'pier_http_request_duration_seconds',
    help: 'HTTP requests by route pattern (not the raw URL), method and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly pgCallDuration = new Histogram({
    name: 'pier_pg_call_duration_seconds',
    help: 'Calls to a PG by operation and outcome (approved, declined, in_doubt, unreachable, refused)',
    labelNames: ['pg', 'operation', 'outcome'] as const,
    buckets: PG_BUCKETS,
    registers: [this.registry],
  });

  readonly webhookAttempts = new Counter({
    name: 'pier_webhook_attempts_total',
    help: 'Webhook delivery attempts by result (delivered, retry, gave_up)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly webhookAttemptDuration = new Histogram({
    name: 'pier_webhook_attempt_duration_seconds',
    help: 'Time a receiver took to answer one webhook attempt',
    labelNames: ['result'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly webhookDeliveryLatency = new Histogram({
    name: 'pier_webhook_delivery_latency_seconds',
    help: 'From the payment event to the receiver accepting it, retries included',
    buckets: WEBHOOK_LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly jobClaims = new Counter({
    name: 'pier_job_claims_total',
    help: 'Claims of background work by queue, and whether they leased rows (found) or none (empty)',
    labelNames: ['queue', 'result'] as const,
    registers: [this.registry],
  });

  readonly jobClaimedRows = new Counter({
    name: 'pier_job_claimed_rows_total',
    help: 'Rows of background work leased by claims, by queue',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });

  readonly jobClaimDuration = new Histogram({
    name: 'pier_job_claim_duration_seconds',
    help: 'Time a claim of background work took (one statement, waiting for a connection included), by queue',
    labelNames: ['queue'] as const,
    buckets: CLAIM_BUCKETS,
    registers: [this.registry],
  });

  // --- database state, computed at scrape time -------------------------------------------------
  readonly payments = this.gauge('pier_payments', 'Payments recorded, by PG, pay method and status (ready, paid, failed, cancelled)', ['pg', 'method', 'status']);
  readonly paymentsAge = this.gauge('pier_payments_age_seconds', 'How old the pier_payments counts are: a count of a large table is spaced out to at most 5 % of the time (0 when counted at this scrape)', []);
  readonly paymentsInDoubt = this.gauge('pier_payments_in_doubt', 'Payments whose PG call outcome is unknown until reconciliation asks the PG', ['pg']);
  readonly refundsPending = this.gauge('pier_refunds_pending', 'Refunds sent to the PG whose outcome is not recorded yet, by state (pending, in_doubt)', ['state']);
  readonly reconciliationBacklog = this.gauge('pier_reconciliation_backlog', 'Rows reconciliation must settle with the PG (payments calling or in doubt, refunds in doubt)', ['kind']);
  readonly reconciliationOldest = this.gauge('pier_reconciliation_oldest_seconds', 'Age of the oldest unsettled row (0 when none)', []);
  readonly schedulesDue = this.gauge('pier_schedules_due', 'Scheduled payments due and not yet run', []);
  readonly scheduleLag = this.gauge('pier_schedule_lag_seconds', 'Now minus the due time of the oldest due scheduled payment (0 when none)', []);
  readonly webhookQueueDepth = this.gauge('pier_webhook_queue_depth', 'Webhook deliveries not finished, by state (pending, sending)', ['state']);
  readonly webhookOldestDue = this.gauge('pier_webhook_oldest_due_seconds', 'How long the oldest due webhook delivery has waited (0 when none)', []);
  readonly scrapeErrors = new Counter({ name: 'pier_metrics_scrape_errors_total', help: 'Scrapes whose database gauges could not be read', registers: [this.registry] });
  readonly clusterScrapeErrors = new Counter({
    name: 'pier_metrics_cluster_errors_total',
    help: "Scrapes answered with this worker's own counters because the other workers' could not be collected (PIER_WORKERS > 1)",
    registers: [this.registry],
  });

  /** milliseconds on a monotonic clock: when `pier_payments` was last counted and how long it took */
  private readonly monotonicMs: () => number;
  private lastPaymentCount?: { startedAtMs: number; tookMs: number };

  constructor(opts: { processMetrics?: boolean; monotonicMs?: () => number; connectionWaits?: Store['connectionWaits'] } = {}) {
    // CPU, memory, event-loop lag, GC; off in tests that build many apps
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'pier_' });
    this.monotonicMs = opts.monotonicMs ?? (() => performance.now());
    const waits = opts.connectionWaits;
    if (waits) {
      // read when the registry is (collect): each PIER_WORKERS worker reports its own queue, summed
      new Gauge({
        name: 'pier_database_connection_waits',
        help: 'Statements waiting for a PostgreSQL connection now, by line: work under way, or new work (a charge\'s first record; decision 0038)',
        labelNames: ['line'] as const,
        registers: [this.registry],
        collect() {
          const { underWay, opening } = waits();
          this.set({ line: 'under_way' }, underWay);
          this.set({ line: 'new' }, opening);
        },
      });
    }
  }

  private gauge(name: string, help: string, labelNames: string[]) {
    return new Gauge({ name, help, labelNames, registers: [this.databaseRegistry] });
  }

  /** A claim of background work (JobRunner's onClaim). */
  observeClaim(c: { queue: string; claimed: number; seconds: number }): void {
    this.jobClaims.inc({ queue: c.queue, result: c.claimed > 0 ? 'found' : 'empty' });
    if (c.claimed > 0) this.jobClaimedRows.inc({ queue: c.queue }, c.claimed);
    this.jobClaimDuration.observe({ queue: c.queue }, c.seconds);
  }

  observePgCall(o: { pg: string; operation: string; outcome: PgCallOutcome; seconds: number }): void {
    this.pgCallDuration.observe({ pg: o.pg, operation: o.operation, outcome: o.outcome }, o.seconds);
  }

  observeWebhookAttempt(o: { result: 'delivered' | 'retry' | 'gave_up'; seconds: number; eventAgeSeconds?: number }): void {
    this.webhookAttempts.inc({ result: o.result });
    this.webhookAttemptDuration.observe({ result: o.result }, o.seconds);
    if (o.result === 'delivered' && o.eventAgeSeconds !== undefined) this.webhookDeliveryLatency.observe(Math.max(0, o.eventAgeSeconds));
  }

  /**
   * Reads the database gauges, then renders every metric in the Prometheus text format. `workers`:
   * this process is one of PIER_WORKERS' workers, and this reads every worker's `registry`
   * aggregated (cluster-metrics.ts); if that fails, this worker's own counters answer.
   */
  async scrape(store: Store, clocks: DbGaugeClocks, workers?: () => Promise<string>): Promise<string> {
    try {
      await this.readDatabaseGauges(store, clocks);
    } catch {
      // the process counters are still worth having when the database is down; /ready says why
      this.scrapeErrors.inc();
    }
    let processes: string | undefined;
    if (workers) {
      try {
        processes = await workers();
      } catch {
        this.clusterScrapeErrors.inc();
      }
    }
    processes ??= await this.registry.metrics();
    const database = await this.databaseRegistry.metrics();
    return processes === '' || processes.endsWith('\n') ? processes + database : `${processes}\n${database}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async readDatabaseGauges(store: Store, clocks: DbGaugeClocks): Promise<void> {
    // `pier_payments` reads the whole payments table (260-330 ms with 200,000 payments on SQLite):
    // on SQLite's reader thread, not the event loop every payment waits on, and spaced out when slow
    const db = store.readerDb;
    const now = unixSeconds(clocks.pier);
    const wallNow = unixSeconds(clocks.wall ?? systemClock);
    const count = sql<number>`count(*)`;
    const startedAtMs = this.monotonicMs();
    const last = this.lastPaymentCount;
    const countPayments = !last || last.tookMs < SLOW_COUNT_MS || startedAtMs - last.startedAtMs >= COUNT_SPACING * last.tookMs;
    const [byStatus, openPayments, openRefunds, schedules, webhookStates, webhookOldest] = await Promise.all([
      countPayments
        ? db
            .selectFrom('payments')
            .select(['pg_provider', 'pay_method', 'status', count.as('n')])
            .groupBy(['pg_provider', 'pay_method', 'status'])
            .execute()
            .then((rows) => {
              this.lastPaymentCount = { startedAtMs, tookMs: this.monotonicMs() - startedAtMs };
              return rows;
            })
        : undefined,
      // The states below are literals, each table's open rows in one statement, read in the
      // indexes that hold just those rows (migrations 023, 027, 028): a bound state takes no partial
      // index in a PostgreSQL generic plan, and SQLite read the whole tables unless told the index
      sql<{ pg_provider: string; pg_state: string; n: number; oldest: number | null }>`SELECT p.pg_provider, p.pg_state, count(*) AS n, min(p.updated_at) AS oldest
        FROM ${tableIndexedBy(store.dialect, 'payments', 'p', 'payments_reconcile_merchant')} WHERE p.pg_state IN ('calling', 'in_doubt') GROUP BY p.pg_provider, p.pg_state`
        .execute(db)
        .then((r) => r.rows),
      sql<{ state: string; n: number; oldest: number | null }>`SELECT c.state, count(*) AS n, min(c.requested_at) AS oldest
        FROM ${tableIndexedBy(store.dialect, 'payment_cancels', 'c', 'payment_cancels_reconcile_merchant')} WHERE c.state IN ('pending', 'in_doubt') GROUP BY c.state`
        .execute(db)
        .then((r) => r.rows),
      db.selectFrom('payment_schedules').select([count.as('n'), sql<number | null>`min(due_at)`.as('oldest')]).where(sql<boolean>`state = 'scheduled'`).where('due_at', '<=', now).executeTakeFirst(),
      // one count per state, each with its state as a literal: the webhook queue's indexes are
      // partial on it (migration 027); `state IN (…)` would read every delivery ever made
      sql<{ state: string; n: number }>`SELECT 'pending' AS state, count(*) AS n FROM webhook_deliveries WHERE state = 'pending'
        UNION ALL SELECT 'sending', count(*) FROM webhook_deliveries WHERE state = 'sending'`
        .execute(db)
        .then((r) => r.rows),
      db.selectFrom('webhook_deliveries').select(sql<number | null>`min(next_attempt_at)`.as('oldest')).where(sql<boolean>`state = 'pending'`).where('next_attempt_at', '<=', wallNow).executeTakeFirst(),
    ]);

    if (byStatus) {
      this.payments.reset();
      for (const r of byStatus) this.payments.set({ pg: r.pg_provider, method: r.pay_method, status: r.status }, Number(r.n));
    }
    this.paymentsAge.set(byStatus ? 0 : Math.max(0, (startedAtMs - this.lastPaymentCount!.startedAtMs) / 1000));
    this.paymentsInDoubt.reset();
    for (const r of openPayments) if (r.pg_state === 'in_doubt') this.paymentsInDoubt.set({ pg: r.pg_provider }, Number(r.n));
    this.refundsPending.reset();
    for (const state of ['pending', 'in_doubt']) this.refundsPending.set({ state }, Number(openRefunds.find((r) => r.state === state)?.n ?? 0));

    // the backlog: attempts calling or in doubt, refunds in doubt
    const refundsInDoubt = openRefunds.find((r) => r.state === 'in_doubt');
    this.reconciliationBacklog.set({ kind: 'payment' }, openPayments.reduce((n, r) => n + Number(r.n), 0));
    this.reconciliationBacklog.set({ kind: 'refund' }, Number(refundsInDoubt?.n ?? 0));
    const oldest = [...openPayments.map((r) => r.oldest), refundsInDoubt?.oldest].filter((v): v is number => v !== null && v !== undefined).map(Number);
    this.reconciliationOldest.set(oldest.length ? Math.max(0, now - Math.min(...oldest)) : 0);

    this.schedulesDue.set(Number(schedules?.n ?? 0));
    this.scheduleLag.set(schedules?.oldest != null ? Math.max(0, now - Number(schedules.oldest)) : 0);

    for (const state of ['pending', 'sending']) this.webhookQueueDepth.set({ state }, Number(webhookStates.find((r) => r.state === state)?.n ?? 0));
    this.webhookOldestDue.set(webhookOldest?.oldest != null ? Math.max(0, wallNow - Number(webhookOldest.oldest)) : 0);
  }
}

import Type, { type Static } from 'typebox';
import { CONNECTOR_MODULES, type ConnectorSettings } from '../connectors/registry.js';
import { MAX_DURATION_MS } from '../lib/clock.js';

/**
 * Pier's whole configuration, one typed schema (design.md principle 8).
 * Every key can come from the optional JSON config file (PIER_CONFIG) and most from an
 * environment variable (see ENV_KEYS in load.ts); the environment wins.
 */
export const ConfigSchema = Type.Object({
  /** `sandbox` creates a demo merchant and mounts the tPay simulator; `production` refuses demo credentials */
  mode: Type.Union([Type.Literal('sandbox'), Type.Literal('production')]),
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  /** the URL merchants and browsers reach Pier at; printed at start */
  publicUrl: Type.String({ pattern: '^https?://[^\\s/?#]+(/\\S*)?$' }),
  /**
   * reverse proxies whose X-Forwarded-For / -Proto / -Host Pier believes: comma-separated addresses
   * or CIDRs, or `loopback` / `uniquelocal`; empty: none (the headers are ignored, as anyone can send them)
   */
  trustProxy: Type.String({ pattern: '^[0-9A-Za-z.:/, ]*$' }),
  /** folder for the SQLite file, the sandbox vault key file and the simulator ledger */
  dataDir: Type.String({ minLength: 1 }),
  /** `sqlite:<path>` / `sqlite::memory:` or `postgres://…`; default: sqlite file in dataDir */
  databaseUrl: Type.String({ pattern: '^(sqlite:|postgres(ql)?://)' }),
  /**
   * PostgreSQL: how long a statement waits for a connection (all busy, or a new one opening) before
   * it fails, so a database that stops answering cannot hold requests and background work for good
   */
  databaseConnectTimeoutMs: Type.Integer({ minimum: 100, maximum: MAX_DURATION_MS }),
  /**
   * PostgreSQL: how long a statement may run or wait for a lock, and a transaction sit idle, before
   * the server cancels it; an open connection that gives no answer for 5 s more is closed. 0: no
   * limit. Migrations run without it.
   */
  databaseStatementTimeoutMs: Type.Union([Type.Literal(0), Type.Integer({ minimum: 100, maximum: MAX_DURATION_MS })]),
  /**
   * PostgreSQL: the most connections one Pier process (each of PIER_WORKERS' workers) opens for
   * requests and background work; its job claims have 3 of their own. Past it, statements queue.
   */
  databasePoolSize: Type.Integer({ minimum: 1, maximum: 1000 }),
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  /** `auto`: readable lines on a terminal in sandbox, JSON otherwise; `json`; `pretty` */
  logFormat: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')]),
  metrics: Type.Object({
    /**
     * bearer token GET /metrics requires; empty: open in sandbox, answered 404 in production (so a
     * production install never publishes its numbers by accident)
     */
    token: Type.String(),
  }),
  /** largest accepted request body, bytes */
  bodyLimit: Type.Integer({ minimum: 1024 }),
  vault: Type.Object({
    /**
     * Billing-key encryption keys, `id:base64key` pairs separated by commas; the first is used to
     * encrypt, all are tried to decrypt (rotation). Each key is 32 bytes. When empty in sandbox,
     * a key file is generated in dataDir on first start.
     */
    keys: Type.String(),
  }),
  /** failed sign-in attempts (POST /users/getToken, console sign-in) allowed per window, counted in the database */
  rateLimits: Type.Object({
    /** per client address */
    perIp: Type.Integer({ minimum: 1 }),
    /** per imp_key / console e-mail */
    perKey: Type.Integer({ minimum: 1 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  }),
  /**
   * what one client address (IPv6: its /64) may ask of the anonymous payment window per window of
   * time, every request counted; beyond it the SDK's callback gets F1010 (decision 0059)
   */
  checkoutRateLimits: Type.Object({
    /** `POST /checkout/sessions` (IMP.request_pay) */
    sessionsPerIp: Type.Integer({ minimum: 1 }),
    /** PG windows opened (`POST /checkout/{id}/start`), each a payments row and later PG inquiries */
    windowsPerIp: Type.Integer({ minimum: 1 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  }),
  /**
   * posts one client address (IPv6: its /64) may send the PG notify route
   * (`POST /checkout/pg/{channel}/notify`) per window, counted in each process's memory; beyond
   * it HTTP 429 `RETRY`, which a PG takes as a failed delivery and resends (decision 0087)
   */
  pgNoticeRateLimit: Type.Object({
    perIp: Type.Integer({ minimum: 1 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  }),
  webhooks: Type.Object({
    /**
     * Production refuses webhook and notice_url destinations on loopback, private, link-local and
     * multicast addresses (after DNS). Destinations listed here are allowed anyway: comma-separated
     * host names (`hooks.internal`), IPs or CIDRs (`10.20.0.0/16`). Sandbox allows everything.
     */
    allowPrivate: Type.String(),
    /** total deadline of one delivery attempt: connect, headers and body (V1: connect 10 s + read 30 s) */
    attemptDeadlineMs: Type.Integer({ minimum: 100, maximum: MAX_DURATION_MS }),
  }),
  /**
   * HTTP worker processes sharing `port` (node:cluster); each also runs background work, leased
   * row by row so nothing runs twice. Default: the number of cores in production, 1 in sandbox.
   */
  workers: Type.Integer({ minimum: 1, maximum: 256 }),
  /** on SIGTERM: how long in-flight background work may finish before its rows are released */
  shutdownGraceMs: Type.Integer({ minimum: 0, maximum: MAX_DURATION_MS }),
  simulator: Type.Object({
    /** run the tPay simulator inside this process on its own port */
    enabled: Type.Boolean(),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    /**
     * where buyers' browsers reach the embedded simulator (its payment window and the receipt_url
     * slips), e.g. behind a proxy; empty = its listen address
     */
    publicUrl: Type.String({ pattern: '^(https?://\\S+)?$' }),
  }),
  /** each PG's section, as its connector module defines it (connectors/registry.ts) */
  connectors: Type.Object(Object.fromEntries(CONNECTOR_MODULES.map((m) => [m.provider, m.schema]))),
});

export type Config = Omit<Static<typeof ConfigSchema>, 'connectors'> & { connectors: ConnectorSettings };

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'pier-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configFile(content: unknown): string {
  const file = join(dir, `config-${++n}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Runs loadConfig and returns the ConfigError it throws (fails when it does not throw one). */
function configError(env: NodeJS.ProcessEnv, overrides: Record<string, unknown> = {}): ConfigError {
  try {
    loadConfig(env, overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

const VAULT_KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

describe('loadConfig', () => {
  it('has sandbox defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      mode: 'sandbox',
      host: '127.0.0.1',
      port: 8080,
      publicUrl: 'http://localhost:8080',
      trustProxy: '',
      dataDir: resolve('./data'),
      databaseUrl: `sqlite:${resolve('./data', 'pier.sqlite')}`,
      databaseConnectTimeoutMs: 10_000,
      databaseStatementTimeoutMs: 30_000,
      databasePoolSize: 10,
      logLevel: 'info',
      logFormat: 'auto',
      metrics: { token: '' },
      bodyLimit: 1024 * 1024,
      vault: { keys: '' },
      rateLimits: { perIp: 30, perKey: 10, windowSeconds: 60 },
      checkoutRateLimits: { sessionsPerIp: 300, windowsPerIp: 150, windowSeconds: 600 },
      pgNoticeRateLimit: { perIp: 600, windowSeconds: 60 },
      webhooks: { allowPrivate: '', attemptDeadlineMs: 40_000 },
      shutdownGraceMs: 10_000,
      workers: 1,
      simulator: { enabled: true, host: '127.0.0.1', port: 8091, publicUrl: '' },
      connectors: {
        jtnet: { baseUrl: '', connectTimeoutMs: 3000, readTimeoutMs: 30000 },
        nice_v2: { liveUrl: 'https://api.nicepay.co.kr', sandboxUrl: '', sdkUrl: '', connectTimeoutMs: 5000, readTimeoutMs: 30000 },
      },
    });
  });

  it('does not read process.env unless given it', () => {
    const c = loadConfig({ PORT: '9000' });
    expect(c.port).toBe(9000);
  });

  it('derives dependent defaults from what was set', () => {
    const c = loadConfig({ PORT: '9000', PIER_DATA_DIR: join(dir, 'data') });
    expect(c.publicUrl).toBe('http://localhost:9000');
    expect(c.simulator.port).toBe(9011);
    expect(c.databaseUrl).toBe(`sqlite:${join(dir, 'data', 'pier.sqlite')}`);
    expect(loadConfig({ PORT: '0' }).simulator.port).toBe(0);
    expect(loadConfig({ PIER_MODE: 'production', PIER_VAULT_KEYS: VAULT_KEYS }).simulator.enabled).toBe(false);
  });

  it('takes every environment variable, typed', () => {
    const c = loadConfig({
      PIER_MODE: 'production',
      HOST: '0.0.0.0',
      PORT: '8443',
      PIER_PUBLIC_URL: 'https://pay.example.com',
      PIER_TRUST_PROXY: '10.0.0.0/8, loopback',
      PIER_DATA_DIR: '/var/lib/pier',
      DATABASE_URL: 'postgres://pier@db:5432/pier',
      PIER_DATABASE_CONNECT_TIMEOUT_MS: '2500',
      PIER_DATABASE_STATEMENT_TIMEOUT_MS: '0',
      PIER_DATABASE_POOL_SIZE: '4',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      PIER_METRICS_TOKEN: 'scrape-token-1',
      PIER_BODY_LIMIT: '65536',
      PIER_VAULT_KEYS: VAULT_KEYS,
      // production runs no embedded simulator (decision 0118); 'on' is read in the table below
      PIER_SIMULATOR: 'off',
      PIER_SIMULATOR_HOST: '0.0.0.0',
      PIER_SIMULATOR_PORT: '18091',
      PIER_SIMULATOR_PUBLIC_URL: 'https://tpay-sim.example.com',
      PIER_JTNET_URL: 'https://webtx.tpay.co.kr',
      PIER_JTNET_CONNECT_TIMEOUT_MS: '1500',
      PIER_JTNET_READ_TIMEOUT_MS: '45000',
      PIER_NICE_LIVE_URL: 'https://nice-proxy.example.com',
      PIER_NICE_SANDBOX_URL: 'https://sandbox-api.nicepay.co.kr',
      PIER_NICE_SDK_URL: 'https://pay.nicepay.co.kr/v1/js/',
      PIER_NICE_CONNECT_TIMEOUT_MS: '4000',
      PIER_NICE_READ_TIMEOUT_MS: '25000',
      PIER_WORKERS: '4',
      PIER_CHECKOUT_SESSIONS_PER_IP: '200',
      PIER_CHECKOUT_WINDOWS_PER_IP: '80',
      PIER_CHECKOUT_RATE_LIMIT_WINDOW_SECONDS: '300',
      PIER_PG_NOTICES_PER_IP: '1200',
      PIER_PG_NOTICE_RATE_LIMIT_WINDOW_SECONDS: '30',
    });
    expect(c).toEqual({
      mode: 'production',
      host: '0.0.0.0',
      port: 8443,
      publicUrl: 'https://pay.example.com',
      trustProxy: '10.0.0.0/8, loopback',
      dataDir: '/var/lib/pier',
      databaseUrl: 'postgres://pier@db:5432/pier',
      databaseConnectTimeoutMs: 2500,
      databaseStatementTimeoutMs: 0,
      databasePoolSize: 4,
      logLevel: 'debug',
      logFormat: 'json',
      metrics: { token: 'scrape-token-1' },
      bodyLimit: 65536,
      vault: { keys: VAULT_KEYS },
      rateLimits: { perIp: 30, perKey: 10, windowSeconds: 60 },
      checkoutRateLimits: { sessionsPerIp: 200, windowsPerIp: 80, windowSeconds: 300 },
      pgNoticeRateLimit: { perIp: 1200, windowSeconds: 30 },
      webhooks: { allowPrivate: '', attemptDeadlineMs: 40_000 },
      shutdownGraceMs: 10_000,
      workers: 4,
      simulator: { enabled: false, host: '0.0.0.0', port: 18091, publicUrl: 'https://tpay-sim.example.com' },
      connectors: {
        jtnet: { baseUrl: 'https://webtx.tpay.co.kr', connectTimeoutMs: 1500, readTimeoutMs: 45000 },
        nice_v2: { liveUrl: 'https://nice-proxy.example.com', sandboxUrl: 'https://sandbox-api.nicepay.co.kr', sdkUrl: 'https://pay.nicepay.co.kr/v1/js/', connectTimeoutMs: 4000, readTimeoutMs: 25000 },
      },
    });
  });

  it('reads booleans in their usual spellings and ignores empty variables', () => {
    for (const [raw, want] of [['true', true], ['1', true], ['ON', true], ['false', false], ['0', false], ['off', false]] as const) {
      expect(loadConfig({ PIER_SIMULATOR: raw }).simulator.enabled, raw).toBe(want);
    }
    expect(loadConfig({ PORT: '', LOG_LEVEL: '' })).toMatchObject({ port: 8080, logLevel: 'info' });
  });

  it('reads the JSON file named by PIER_CONFIG, nested keys merged over the defaults', () => {
    const file = configFile({ port: 7000, logLevel: 'warn', connectors: { jtnet: { readTimeoutMs: 12000 } }, simulator: { enabled: false } });
    const c = loadConfig({ PIER_CONFIG: file });
    expect(c).toMatchObject({ port: 7000, logLevel: 'warn', publicUrl: 'http://localhost:7000', simulator: { enabled: false, host: '127.0.0.1', port: 7011 } });
    expect(c.connectors.jtnet).toEqual({ baseUrl: '', connectTimeoutMs: 3000, readTimeoutMs: 12000 });
  });

  it('lets the environment win over the file, and explicit overrides win over both', () => {
    const file = configFile({ port: 7000, logLevel: 'warn', connectors: { jtnet: { readTimeoutMs: 12000, connectTimeoutMs: 900 } } });
    const c = loadConfig({ PIER_CONFIG: file, PORT: '7100', PIER_JTNET_READ_TIMEOUT_MS: '13000' }, { logLevel: 'error' });
    expect(c.port).toBe(7100);
    expect(c.logLevel).toBe('error');
    expect(c.connectors.jtnet).toEqual({ baseUrl: '', connectTimeoutMs: 900, readTimeoutMs: 13000 });
  });

  describe('refuses bad configuration with a ConfigError naming the key', () => {
    it.each([
      [{ PORT: 'abc' }, /PORT/, /port/],
      [{ PORT: '70000' }, /port/, /70000/],
      [{ PIER_MODE: 'prod' }, /"mode"/, /prod/],
      [{ DATABASE_URL: 'mysql://x' }, /"databaseUrl"/, /mysql:\/\/x/],
      [{ LOG_LEVEL: 'loud' }, /"logLevel"/, /loud/],
      [{ PIER_BODY_LIMIT: '12' }, /"bodyLimit"/, /12/],
      [{ PIER_SIMULATOR: 'maybe' }, /PIER_SIMULATOR/, /simulator\.enabled/],
      [{ PIER_PUBLIC_URL: 'ftp://x' }, /"publicUrl"/, /ftp/],
      // an env file's comment is part of the value (docker --env-file, systemd EnvironmentFile)
      [{ PIER_PUBLIC_URL: 'https://pay.example.com # the load balancer' }, /"publicUrl"/, /the load balancer/],
      [{ PIER_PUBLIC_URL: 'https://' }, /"publicUrl"/, /https:\/\//],
      [{ PIER_SIMULATOR_PUBLIC_URL: 'tpay-sim:8091' }, /"simulator\.publicUrl"/, /tpay-sim/],
      [{ PIER_JTNET_READ_TIMEOUT_MS: '0' }, /"connectors\.jtnet\.readTimeoutMs"/, /0/],
      [{ PIER_JTNET_CONNECT_TIMEOUT_MS: '1.5' }, /PIER_JTNET_CONNECT_TIMEOUT_MS/, /connectors\.jtnet\.connectTimeoutMs/],
      [{ PIER_WORKERS: '0' }, /"workers"/, /0/],
      [{ PIER_DATABASE_POOL_SIZE: '0' }, /"databasePoolSize"/, /0/],
      [{ PIER_DATABASE_POOL_SIZE: 'ten' }, /PIER_DATABASE_POOL_SIZE/, /databasePoolSize.*ten/],
      [{ PIER_WORKERS: 'all' }, /PIER_WORKERS/, /workers.*all/],
      [{ PIER_WORKERS: '2', DATABASE_URL: 'sqlite::memory:' }, /"workers"/, /in-memory SQLite/],
      [{ PIER_VAULT_KEYS: 'k1:c2hvcnQ=' }, /"vault\.keys"/, /k1.*32 bytes/],
      [{ PIER_VAULT_KEYS: 'k1 AAAA' }, /"vault\.keys"/, /key 1 of 1: expected id:base64key/],
    ] as Array<[NodeJS.ProcessEnv, RegExp, RegExp]>)('%o', (env, key, detail) => {
      const err = configError(env);
      expect(err.name).toBe('ConfigError');
      expect(err.message).toMatch(key);
      expect(err.message).toMatch(detail);
    });

    // Node holds a timer of at most 2^31-1 ms and runs a longer one after 1 ms; PostgreSQL refuses a
    // statement_timeout past it on every connection: "no limit, really" must stop the boot, not
    // make every SIGTERM exit at once, every statement fail or every webhook attempt time out
    it.each([
      'PIER_DATABASE_CONNECT_TIMEOUT_MS',
      'PIER_DATABASE_STATEMENT_TIMEOUT_MS',
      'PIER_SHUTDOWN_GRACE_MS',
      'PIER_WEBHOOK_ATTEMPT_DEADLINE_MS',
      'PIER_JTNET_CONNECT_TIMEOUT_MS',
      'PIER_JTNET_READ_TIMEOUT_MS',
      'PIER_NICE_CONNECT_TIMEOUT_MS',
      'PIER_NICE_READ_TIMEOUT_MS',
    ])('a duration longer than a day: %s=3000000000', (name) => {
      const err = configError({ [name]: '3000000000' });
      expect(err.message).toMatch(/^invalid configuration key ".*(TimeoutMs|GraceMs|DeadlineMs)": .*\(value: 3000000000\)$/);
      expect(loadConfig({ [name]: '86400000' })).toBeTruthy();
    });

    // the file refuses an unknown key; a variable with a typo in its name was ignored, and its
    // setting silently took its default (PIER_VAULT_KEY: in sandbox a new vault.key file)
    it.each([
      ['PIER_VAULT_KEY', 'PIER_VAULT_KEYS'],
      ['PIER_WORKER', 'PIER_WORKERS'],
      ['PIER_METRIC_TOKEN', 'PIER_METRICS_TOKEN'],
      ['PIER_SHUTDOWN_GRACE', 'PIER_SHUTDOWN_GRACE_MS'],
      ['PIER_DATABASE_URL', 'DATABASE_URL'],
    ])('a variable whose name is a typo of a setting: %s', (typo, meant) => {
      const err = configError({ [typo]: '4' });
      expect(err.message).toBe(`${typo} is not a Pier setting; did you mean ${meant}?`);
    });

    it("leaves other PIER_ variables alone (a shop's own, the CLI's)", () => {
      expect(loadConfig({ PIER_IMP_KEY: 'k', PIER_API_URL: 'http://x', PIER_CHANNEL_SECRET: 's', PIER_DEBUG: '1', PIER_WORKER_SETUP: '{}', PIER_HOME: '/srv/pier' }).port).toBe(8080);
    });

    it('never repeats a password or token of a value it refuses', () => {
      // a URL copied from another tool's settings: the scheme is wrong, the credentials are real
      const db = configError({ DATABASE_URL: 'postgresql+psycopg://pier:hunter2@db.internal:5432/pier' });
      expect(db.message).toContain('"databaseUrl"');
      expect(db.message).toContain('postgresql+psycopg://pier:***@db.internal:5432/pier');
      expect(db.message).not.toContain('hunter2');
      // a PostgreSQL URL that does not parse (a bracket typed into the host) stops the boot here, naming the key
      const unparsable = configError({ DATABASE_URL: 'postgres://pier:hunter2@[db.internal/pier' });
      expect(unparsable.message).toMatch(/"databaseUrl": not a valid URL/);
      expect(unparsable.message).not.toContain('hunter2');
      const file = configError({ PIER_CONFIG: configFile({ metrics: { token: 42 } }) });
      expect(file.message).toContain('"metrics.token"');
      expect(file.message).not.toContain('42');
      const keys = configError({ PIER_CONFIG: configFile({ vault: { keys: ['k1:c2VjcmV0c2VjcmV0'] } }) });
      expect(keys.message).toContain('"vault.keys"');
      expect(keys.message).not.toContain('c2VjcmV0c2VjcmV0');
    });

    it('a bad value in the file, with its dotted path', () => {
      const err = configError({ PIER_CONFIG: configFile({ connectors: { jtnet: { readTimeoutMs: 'slow' } } }) });
      expect(err.message).toContain('connectors.jtnet.readTimeoutMs');
    });

    it('an unknown key in the file, top-level or nested', () => {
      expect(configError({ PIER_CONFIG: configFile({ prot: 8080 }) }).message).toMatch(/unknown configuration key: prot\b/);
      expect(configError({ PIER_CONFIG: configFile({ connectors: { jtnet: { timeout: 5 } } }) }).message).toContain('connectors.jtnet.timeout');
      expect(configError({ PIER_CONFIG: configFile({ connectors: { toss: {} } }) }).message).toContain('connectors.toss');
    });

    it('a file that is missing, not JSON, or not an object', () => {
      expect(configError({ PIER_CONFIG: join(dir, 'nope.json') }).message).toMatch(/PIER_CONFIG.*nope\.json/);
      expect(configError({ PIER_CONFIG: configFile('{ "port": ') }).message).toMatch(/PIER_CONFIG/);
      expect(configError({ PIER_CONFIG: configFile('[1, 2]') }).message).toMatch(/PIER_CONFIG.*JSON object/);
    });

    it('workers: one in sandbox, one per core in production, as many as asked for', () => {
      expect(loadConfig({}).workers).toBe(1);
      expect(loadConfig({ PIER_MODE: 'production', PIER_VAULT_KEYS: VAULT_KEYS }).workers).toBe(availableParallelism());
      expect(loadConfig({ PIER_WORKERS: '3' }).workers).toBe(3);
      expect(loadConfig({ PIER_CONFIG: configFile({ workers: 2 }) }).workers).toBe(2);
    });

    it('production without vault keys', () => {
      const err = configError({ PIER_MODE: 'production' });
      expect(err.message).toContain('vault.keys');
      expect(err.message).toContain('PIER_VAULT_KEYS');
      expect(configError({ PIER_CONFIG: configFile({ mode: 'production' }) }).message).toContain('vault.keys');
      expect(loadConfig({ PIER_MODE: 'production', PIER_VAULT_KEYS: VAULT_KEYS }).mode).toBe('production');
    });

    it('production with the embedded simulators (decision 0118)', () => {
      const err = configError({ PIER_MODE: 'production', PIER_VAULT_KEYS: VAULT_KEYS, PIER_SIMULATOR: 'true' });
      expect(err.message).toContain('simulator.enabled');
      expect(err.message).toContain('PIER_SIMULATOR');
      expect(configError({ PIER_CONFIG: configFile({ mode: 'production', simulator: { enabled: true } }), PIER_VAULT_KEYS: VAULT_KEYS }).message).toContain('simulator.enabled');
      // a standalone simulator named as the PG's host is the operator's choice
      expect(loadConfig({ PIER_MODE: 'production', PIER_VAULT_KEYS: VAULT_KEYS, PIER_JTNET_URL: 'http://127.0.0.1:8091' }).connectors.jtnet.baseUrl).toBe('http://127.0.0.1:8091');
    });
  });
});

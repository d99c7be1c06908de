import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import Value from 'typebox/value';
import { CONNECTOR_MODULES } from '../connectors/registry.js';
import { DATABASE_CONNECT_TIMEOUT_MS, DATABASE_POOL_SIZE, DATABASE_STATEMENT_TIMEOUT_MS } from '../store/db.js';
import { Vault } from '../vault/vault.js';
import { ConfigSchema, type Config } from './schema.js';

/**
 * Environment variable → config key (dotted path) and how to read it. Exported for the test that
 * keeps docs/configuration.md's table equal to it (test/config-docs.test.ts).
 */
export const ENV_KEYS: Record<string, { key: string; type: 'string' | 'int' | 'bool' }> = {
  PIER_MODE: { key: 'mode', type: 'string' },
  HOST: { key: 'host', type: 'string' },
  PORT: { key: 'port', type: 'int' },
  PIER_PUBLIC_URL: { key: 'publicUrl', type: 'string' },
  PIER_TRUST_PROXY: { key: 'trustProxy', type: 'string' },
  PIER_DATA_DIR: { key: 'dataDir', type: 'string' },
  DATABASE_URL: { key: 'databaseUrl', type: 'string' },
  PIER_DATABASE_CONNECT_TIMEOUT_MS: { key: 'databaseConnectTimeoutMs', type: 'int' },
  PIER_DATABASE_STATEMENT_TIMEOUT_MS: { key: 'databaseStatementTimeoutMs', type: 'int' },
  PIER_DATABASE_POOL_SIZE: { key: 'databasePoolSize', type: 'int' },
  LOG_LEVEL: { key: 'logLevel', type: 'string' },
  LOG_FORMAT: { key: 'logFormat', type: 'string' },
  PIER_METRICS_TOKEN: { key: 'metrics.token', type: 'string' },
  PIER_BODY_LIMIT: { key: 'bodyLimit', type: 'int' },
  PIER_VAULT_KEYS: { key: 'vault.keys', type: 'string' },
  PIER_RATE_LIMIT_PER_IP: { key: 'rateLimits.perIp', type: 'int' },
  PIER_RATE_LIMIT_PER_KEY: { key: 'rateLimits.perKey', type: 'int' },
  PIER_RATE_LIMIT_WINDOW_SECONDS: { key: 'rateLimits.windowSeconds', type: 'int' },
  PIER_CHECKOUT_SESSIONS_PER_IP: { key: 'checkoutRateLimits.sessionsPerIp', type: 'int' },
  PIER_CHECKOUT_WINDOWS_PER_IP: { key: 'checkoutRateLimits.windowsPerIp', type: 'int' },
  PIER_CHECKOUT_RATE_LIMIT_WINDOW_SECONDS: { key: 'checkoutRateLimits.windowSeconds', type: 'int' },
  PIER_PG_NOTICES_PER_IP: { key: 'pgNoticeRateLimit.perIp', type: 'int' },
  PIER_PG_NOTICE_RATE_LIMIT_WINDOW_SECONDS: { key: 'pgNoticeRateLimit.windowSeconds', type: 'int' },
  PIER_WEBHOOK_ALLOW_PRIVATE: { key: 'webhooks.allowPrivate', type: 'string' },
  PIER_WEBHOOK_ATTEMPT_DEADLINE_MS: { key: 'webhooks.attemptDeadlineMs', type: 'int' },
  PIER_SHUTDOWN_GRACE_MS: { key: 'shutdownGraceMs', type: 'int' },
  PIER_WORKERS: { key: 'workers', type: 'int' },
  PIER_SIMULATOR: { key: 'simulator.enabled', type: 'bool' },
  PIER_SIMULATOR_HOST: { key: 'simulator.host', type: 'string' },
  PIER_SIMULATOR_PORT: { key: 'simulator.port', type: 'int' },
  PIER_SIMULATOR_PUBLIC_URL: { key: 'simulator.publicUrl', type: 'string' },
  // each PG's own variables (PIER_JTNET_URL, PIER_NICE_LIVE_URL, …) come with its connector
  ...Object.fromEntries(
    CONNECTOR_MODULES.flatMap((m) => Object.entries(m.env).map(([name, v]) => [name, { key: `connectors.${m.provider}.${v.key}`, type: v.type }])),
  ),
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Tree;
  }
  node[parts[parts.length - 1]] = value;
}

function getPath(tree: Tree, path: string): unknown {
  return path.split('.').reduce<unknown>((n, p) => (n && typeof n === 'object' ? (n as Tree)[p] : undefined), tree);
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' ? deepMerge(out[k] as Tree, v as Tree) : v;
  }
  return out;
}

/** PIER_ variables that are not settings: the file's name, the CLI's and the cluster's own. */
const OTHER_PIER_VARIABLES = new Set(['PIER_CONFIG', 'PIER_DEBUG', 'PIER_CHANNEL_SECRET', 'PIER_API_URL', 'PIER_WORKER_SETUP']);

/**
 * The setting a PIER_ variable's name looks like a typo of (a letter off, two in a name of 8 or
 * more after PIER_, a suffix left out, or a PIER_ prefix on an unprefixed name), else undefined.
 * Other PIER_ variables (a shop's own PIER_IMP_KEY, a PIER_HOME) are left alone: only near misses
 * are refused, and short names are near many others.
 */
function meantVariable(name: string): string | undefined {
  if (!name.startsWith('PIER_') || name in ENV_KEYS || OTHER_PIER_VARIABLES.has(name)) return undefined;
  const known = Object.keys(ENV_KEYS);
  const typos = name.length - 'PIER_'.length >= 8 ? 2 : 1;
  return (
    known.find((k) => k === name.slice('PIER_'.length)) ??
    known.find((k) => k.startsWith('PIER_') && (k.startsWith(name) || editDistance(k, name) <= typos))
  );
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function readEnv(env: NodeJS.ProcessEnv): Tree {
  for (const name of Object.keys(env)) {
    const meant = meantVariable(name);
    // the file refuses an unknown key; a misspelled variable would leave its setting at the default unseen
    if (meant) throw new ConfigError(`${name} is not a Pier setting; did you mean ${meant}?`);
  }
  const tree: Tree = {};
  for (const [name, { key, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (type === 'int') {
      if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} (${key}) must be an integer, got "${raw}"`);
      value = Number(raw);
    } else if (type === 'bool') {
      if (!/^(true|false|1|0|on|off)$/i.test(raw)) throw new ConfigError(`${name} (${key}) must be true or false, got "${raw}"`);
      value = /^(true|1|on)$/i.test(raw);
    }
    setPath(tree, key, value);
  }
  return tree;
}

/**
 * Builds the configuration: defaults, then the JSON file named by PIER_CONFIG, then the environment.
 * Throws ConfigError naming the bad key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Tree = {}): Config {
  let fileTree: Tree = {};
  if (env.PIER_CONFIG) {
    try {
      fileTree = JSON.parse(readFileSync(env.PIER_CONFIG, 'utf8')) as Tree;
    } catch (err) {
      throw new ConfigError(`PIER_CONFIG: cannot read ${env.PIER_CONFIG}: ${(err as Error).message}`);
    }
    if (!fileTree || typeof fileTree !== 'object' || Array.isArray(fileTree)) {
      throw new ConfigError(`PIER_CONFIG: ${env.PIER_CONFIG} must hold a JSON object`);
    }
  }
  const given = deepMerge(deepMerge(fileTree, readEnv(env)), overrides);

  const mode = (getPath(given, 'mode') as string | undefined) ?? 'sandbox';
  const port = (getPath(given, 'port') as number | undefined) ?? 8080;
  const dataDir = resolve((getPath(given, 'dataDir') as string | undefined) ?? './data');
  const defaults: Tree = {
    mode,
    host: '127.0.0.1',
    port,
    publicUrl: `http://localhost:${port}`,
    trustProxy: '',
    dataDir,
    databaseUrl: `sqlite:${resolve(dataDir, 'pier.sqlite')}`,
    databaseConnectTimeoutMs: DATABASE_CONNECT_TIMEOUT_MS,
    databaseStatementTimeoutMs: DATABASE_STATEMENT_TIMEOUT_MS,
    databasePoolSize: DATABASE_POOL_SIZE,
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
    // production uses every core; sandbox stays one process (the demo shop keeps its orders in memory)
    workers: mode === 'production' ? availableParallelism() : 1,
    simulator: { enabled: mode === 'sandbox', host: '127.0.0.1', port: port === 0 ? 0 : port + 11, publicUrl: '' },
    connectors: Object.fromEntries(CONNECTOR_MODULES.map((m) => [m.provider, { ...m.defaults }])),
  };
  const merged = deepMerge(defaults, given);
  const unknown = findUnknownKeys(merged, ConfigSchema as unknown as SchemaNode);
  if (unknown.length > 0) throw new ConfigError(`unknown configuration key: ${unknown.join(', ')}`);
  const errors = [...Value.Errors(ConfigSchema, merged)];
  if (errors.length > 0) {
    const e = errors[0];
    const key = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || (e.params as { requiredProperties?: string[] }).requiredProperties?.join(', ') || '(root)';
    throw new ConfigError(`invalid configuration key "${key}": ${e.message} (value: ${shownValue(key, getPath(merged, key))})`);
  }
  const config = merged as Config;
  if (config.mode === 'production' && !config.vault.keys) {
    throw new ConfigError('invalid configuration key "vault.keys": production mode needs PIER_VAULT_KEYS (id:base64key)');
  }
  if (config.mode === 'production' && config.simulator.enabled) {
    // An embedded simulator becomes JTNET's host (every tPay channel, live ones too) and NICE's for
    // sandbox channels: it approves any test card and takes deposits, faults and notify URLs on its
    // unauthenticated /__control endpoints, so production would record payments no PG confirmed
    // (decision 0118). A standalone simulator named by PIER_JTNET_URL stays the operator's choice.
    throw new ConfigError(
      'invalid configuration key "simulator.enabled": production mode runs no embedded PG simulator (PIER_SIMULATOR): it would answer for the PGs; unset it, or name a PG host (PIER_JTNET_URL) instead',
    );
  }
  if (!config.databaseUrl.startsWith('sqlite:') && !URL.canParse(config.databaseUrl)) {
    // the driver would say only "Invalid URL", once the start is under way
    throw new ConfigError(`invalid configuration key "databaseUrl": not a valid URL (value: ${shownValue('databaseUrl', config.databaseUrl)})`);
  }
  const badProxy = config.trustProxy.split(',').map((s) => s.trim()).find((entry) => entry !== '' && !isProxyEntry(entry));
  if (badProxy !== undefined) {
    // Fastify would refuse it only once the database is migrated, with a message that names no setting
    throw new ConfigError(`invalid configuration key "trustProxy": "${badProxy}" is not an IP address, a CIDR, loopback, linklocal or uniquelocal`);
  }
  if (config.vault.keys) {
    // a key ring that cannot be read stops the boot here, before the database is touched
    try {
      Vault.fromSpec(config.vault.keys);
    } catch (err) {
      throw new ConfigError(`invalid configuration key "vault.keys": ${(err as Error).message}`);
    }
  }
  if (config.workers > 1 && config.databaseUrl === 'sqlite::memory:') {
    throw new ConfigError('invalid configuration key "workers": an in-memory SQLite database lives in one process; use a file or PostgreSQL with more than one worker');
  }
  return config;
}

/** One entry of `trustProxy` as Fastify's proxy-addr reads it: a name, an address, address/bits (1 or more) or address/netmask. */
function isProxyEntry(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const slash = entry.lastIndexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  if (!ipaddr.isValid(address)) return false;
  if (slash === -1) return true;
  const range = entry.slice(slash + 1);
  const maxBits = ipaddr.parse(address).kind() === 'ipv6' ? 128 : 32;
  const bits = /^\d+$/.test(range)
    ? Number(range)
    : maxBits === 32 && ipaddr.IPv4.isValidFourPartDecimal(range)
      ? ipaddr.IPv4.parse(range).prefixLengthFromSubnetMask()
      : null;
  return bits !== null && bits > 0 && bits <= maxBits;
}

/** Keys whose whole value is a secret: a message about them never repeats it. */
const SECRET_KEYS = new Set(['vault.keys', 'metrics.token']);

/**
 * A refused value as the error message shows it: a ConfigError goes to stderr, which the service
 * manager keeps in its logs, so secrets are left out (a URL keeps its user but not its password).
 */
function shownValue(key: string, value: unknown): string {
  if (SECRET_KEYS.has(key)) return '(not shown: a secret)';
  return JSON.stringify(value).replace(/(\/\/[^/:@\s"]*):[^@\s"]*@/g, '$1:***@');
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
}

function findUnknownKeys(value: unknown, schema: SchemaNode, prefix = ''): string[] {
  if (!schema.properties || !value || typeof value !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Tree)) {
    const sub = schema.properties[k];
    if (!sub) out.push(prefix + k);
    else out.push(...findUnknownKeys(v, sub, `${prefix}${k}.`));
  }
  return out;
}

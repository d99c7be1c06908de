/**
 * GET /ready: can this process serve payments now? Each check has its own deadline and they run
 * side by side, so a hung database or PG makes /ready answer 503 in time instead of hanging the
 * load balancer's probe.
 *
 * The answer names what failed in general words; the details (addresses, driver messages) go to
 * the log only, since /ready is public.
 */
import { Migrator } from 'kysely';
import type { Deps } from '../core/deps.js';
import { PierMigrations } from '../store/migrations/index.js';
import { vaultSelfCheck } from '../vault/self-check.js';

export interface ReadinessReport {
  ready: boolean;
  /** check name -> `ok` or a short public reason */
  checks: Record<string, string>;
  /** the names of the failed checks */
  failed: string[];
}

class CheckFailed extends Error {
  constructor(readonly publicReason: string, detail: string) {
    super(detail);
  }
}

function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed('timeout', `no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export async function checkReadiness(deps: Deps, opts: { deadlineMs?: number } = {}): Promise<ReadinessReport> {
  const deadlineMs = opts.deadlineMs ?? 2_000;
  const { db } = deps.store;
  const checks: [string, () => Promise<void>][] = [
    [
      'database',
      async () => {
        await db.selectFrom('sandbox_settings').select('id').limit(1).execute().catch((err) => {
          throw new CheckFailed('unreachable', (err as Error).message);
        });
      },
    ],
    [
      'migrations',
      async () => {
        const migrations = await new Migrator({ db, provider: new PierMigrations(deps.store.dialect) }).getMigrations().catch((err) => {
          throw new CheckFailed('unreadable', (err as Error).message);
        });
        const pending = migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
        if (pending.length > 0) throw new CheckFailed(`pending: ${pending.join(', ')}`, `migrations not applied: ${pending.join(', ')}`);
      },
    ],
    [
      'vault',
      async () => {
        const r = await vaultSelfCheck(db, deps.vault).catch((err) => {
          throw new CheckFailed('unreadable', (err as Error).message);
        });
        if (!r.ok) throw new CheckFailed('keys do not open sealed data', r.problem);
      },
    ],
    // only PGs whose connector has a free way to ask (a PG without one is not reported at all)
    ...deps.connectors.providers().flatMap((provider): [string, () => Promise<void>][] => {
      const connector = deps.connectors.get(provider);
      if (!connector?.ping) return [];
      const ping = connector.ping.bind(connector);
      return [[
      `pg:${provider}`,
      async () => {
        await ping(deadlineMs).catch((err) => {
          throw new CheckFailed('unreachable', (err as Error).message);
        });
      },
      ]];
    }),
  ];

  const results = await Promise.all(
    checks.map(async ([name, run]) => {
      try {
        await withDeadline(deadlineMs, run());
        return [name, 'ok'] as const;
      } catch (err) {
        const reason = err instanceof CheckFailed ? err.publicReason : 'failed';
        deps.logger.warn({ check: name, err: (err as Error).message }, 'readiness check failed');
        return [name, reason] as const;
      }
    }),
  );
  const failed = results.filter(([, r]) => r !== 'ok').map(([n]) => n);
  return { ready: failed.length === 0, checks: Object.fromEntries(results), failed };
}

import type { PgSimulatorTools } from '../../lib/simulator-tools.js';
import type { Deps } from '../deps.js';
import { channelNotifyUrl } from '../merchants/channels.js';

export interface RegisteredNotifyUrl {
  provider: string;
  /** the PG account: tPay's MID, NICE's clientId */
  mid: string;
  channelId: string;
  url: string;
  ok: boolean;
  /** why the simulator did not take it (its answer, or why it could not be reached) */
  error?: string;
}

/**
 * Sandbox: registers, at the simulator each PG's connector calls, where the PG sends an account's
 * server-to-server notices (tPay's virtual-account deposit notices, NICE's webhooks), as an operator
 * does in the PG's own admin for a live account. A PG takes one URL per account and no URL from the
 * window (the browser could rewrite it: decision 0086), so without this no deposit made at a
 * simulator would reach Pier.
 *
 * One URL per account (provider and MID): the notify URL of its oldest sandbox channel, so a channel
 * added later does not move it; channels sharing the account get their notices there too
 * (pg-notices.ts finds the payment on the channel it belongs to). Run at the sandbox's start and
 * again for an account whose channels were added or removed (`only`). Channels with a base URL of
 * their own (another simulator) and PGs whose simulator has no such setting are left out. Best
 * effort: a simulator that cannot be reached is reported, not thrown.
 */
export async function registerSandboxNotifyUrls(
  deps: Deps,
  tools: readonly PgSimulatorTools[] | undefined,
  publicUrl: string,
  only?: { provider: string; mid: string },
): Promise<RegisteredNotifyUrl[]> {
  if (deps.mode !== 'sandbox') return [];
  const channels = await deps.store.db
    .selectFrom('pg_channels')
    .select(['id', 'provider', 'mid', 'base_url'])
    .where('sandbox', '=', 1)
    .$if(only !== undefined, (q) => q.where('provider', '=', only!.provider).where('mid', '=', only!.mid))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const oldest = new Map<string, (typeof channels)[number]>();
  for (const c of channels) {
    const tool = tools?.find((t) => t.provider === c.provider);
    if (!tool?.registerNotifyUrl || !deps.connectors.channelRules(c.provider)?.registeredNotifyUrl) continue;
    if (c.base_url && c.base_url.replace(/\/+$/, '') !== tool.url.replace(/\/+$/, '')) continue;
    const key = `${c.provider}\u0000${c.mid}`;
    if (!oldest.has(key)) oldest.set(key, c);
  }
  // at once, not one after another: the sandbox's start waits for these, and each may take its
  // simulator's whole deadline (postToSimulator) when that simulator is down
  const done: RegisteredNotifyUrl[] = await Promise.all(
    [...oldest.values()].map(async (c): Promise<RegisteredNotifyUrl> => {
      const tool = tools!.find((t) => t.provider === c.provider)!;
      const url = channelNotifyUrl(publicUrl, c.id);
      const base = { provider: c.provider, mid: c.mid, channelId: c.id, url };
      try {
        const answer = await tool.registerNotifyUrl!(c.mid, url);
        const ok = answer.status >= 200 && answer.status < 300;
        return ok ? { ...base, ok } : { ...base, ok, error: `HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` };
      } catch (err) {
        return { ...base, ok: false, error: `${tool.url}: ${(err as Error).message}` };
      }
    }),
  );
  for (const r of done) {
    if (r.ok) deps.logger.info({ provider: r.provider, mid: r.mid, url: r.url }, 'sandbox: notice URL registered at the simulator');
    else deps.logger.warn({ provider: r.provider, mid: r.mid, error: r.error }, 'sandbox: the simulator did not take the notice URL; deposits there will not reach Pier until it does');
  }
  return done;
}

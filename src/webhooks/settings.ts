import { DestinationGuard } from './network-guard.js';
import { PierError } from '../core/errors.js';
import type { Deps } from '../core/deps.js';
import { unixSeconds } from '../lib/clock.js';
import { newWebhookSecret, type WebhookContentType } from './payload.js';

export interface WebhookSettings {
  /** the merchant-level Notification URL; null = none (only per-payment notice_url) */
  url: string | null;
  contentType: WebhookContentType;
  /** the Standard Webhooks signing secret, `whsec_…` */
  secret: string;
}

/**
 * The merchant's webhook settings, created on first use with a new signing secret. Safe when two
 * processes do it at once: the first insert wins, the other reads it.
 */
export async function webhookSettings(deps: Deps, merchantId: string): Promise<WebhookSettings> {
  const { db } = deps.store;
  let row = await db.selectFrom('webhook_settings').selectAll().where('merchant_id', '=', merchantId).executeTakeFirst();
  if (!row) {
    const now = unixSeconds(deps.clock);
    await db
      .insertInto('webhook_settings')
      .values({ merchant_id: merchantId, url: null, content_type: 'json', secret_sealed: deps.vault.seal(newWebhookSecret()), created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('merchant_id').doNothing())
      .execute();
    row = await db.selectFrom('webhook_settings').selectAll().where('merchant_id', '=', merchantId).executeTakeFirstOrThrow();
  }
  return { url: row.url, contentType: row.content_type === 'form' ? 'form' : 'json', secret: deps.vault.open(row.secret_sealed) };
}

/** Checks a webhook URL: absolute http(s), no credentials in it. */
export function checkWebhookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PierError('invalid_parameter', `url: "${url}" is not an absolute URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PierError('invalid_parameter', 'url: only http:// and https:// URLs');
  if (u.username || u.password) throw new PierError('invalid_parameter', 'url: must not carry a user name or password');
  if (url.length > 2000) throw new PierError('invalid_parameter', 'url: at most 2000 characters');
  return u.toString();
}

/**
 * Refuses at once what the sender would refuse at every attempt (production: an internal IP
 * literal or a localhost name), so the merchant hears it now rather than from ten failed tries.
 * Names resolving to internal addresses are caught by the sender, after DNS.
 */
function checkPublicDestination(deps: Deps, url: string): string {
  const guard = deps.destinationGuard ?? (deps.mode === 'production' ? DestinationGuard.production() : DestinationGuard.sandbox());
  const u = new URL(url);
  const host = u.hostname.toLowerCase();
  const localName = host === 'localhost' || host.endsWith('.localhost');
  if (guard.refusesUrl(u) || (guard.enforcing && localName && !guard.allowsHost(host))) {
    throw new PierError('invalid_parameter', 'url: must be a public address (loopback, private, link-local and multicast destinations are refused in production; see webhooks.allowPrivate)');
  }
  return url;
}

/**
 * Sets the merchant's Notification URL (null removes it) and/or content type. Deliveries already
 * recorded keep the URL they were made for (V1: re-sends of old payments go to the old URL).
 */
export async function setWebhookSettings(
  deps: Deps,
  merchantId: string,
  change: { url?: string | null; contentType?: WebhookContentType },
): Promise<WebhookSettings> {
  await webhookSettings(deps, merchantId);
  const set: { url?: string | null; content_type?: string; updated_at: number } = { updated_at: unixSeconds(deps.clock) };
  if (change.url !== undefined) set.url = change.url === null || change.url === '' ? null : checkPublicDestination(deps, checkWebhookUrl(change.url));
  if (change.contentType !== undefined) {
    if (change.contentType !== 'json' && change.contentType !== 'form') throw new PierError('invalid_parameter', 'content_type: json or form');
    set.content_type = change.contentType;
  }
  await deps.store.db.updateTable('webhook_settings').set(set).where('merchant_id', '=', merchantId).execute();
  return webhookSettings(deps, merchantId);
}

/** Replaces the signing secret; deliveries from now on are signed with the new one. */
export async function rotateWebhookSecret(deps: Deps, merchantId: string): Promise<WebhookSettings> {
  await webhookSettings(deps, merchantId);
  await deps.store.db
    .updateTable('webhook_settings')
    .set({ secret_sealed: deps.vault.seal(newWebhookSecret()), updated_at: unixSeconds(deps.clock) })
    .where('merchant_id', '=', merchantId)
    .execute();
  return webhookSettings(deps, merchantId);
}

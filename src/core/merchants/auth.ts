import { createHmac, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { PierError } from '../errors.js';
import { newId } from '../../lib/ids.js';
import { hashSecret, sha256Hex, verifySecret } from '../../lib/password.js';
import { unixSeconds } from '../../lib/clock.js';
import { refreshClock } from '../sandbox/clock.js';
import type { Deps } from '../deps.js';

/** V1 token lifetime and last-minute extension (spec/api-v1.md §2). */
export const TOKEN_TTL_SECONDS = 30 * 60;
const EXTEND_WINDOW_SECONDS = 60;
const EXTENSION_SECONDS = 5 * 60;
/** getToken with a wrong imp_key or imp_secret (V1 answers 401) */
export const BAD_CREDENTIALS = '아임포트 API 인증에 실패하였습니다.';

export interface AuthenticatedMerchant {
  merchantId: string;
  merchantCode: string;
}

/**
 * A token is an HMAC of its row id under a key derived from the vault, so the same token can be
 * handed out again while it is valid (V1 behaviour) without storing it: only its hash is stored.
 */
function deriveToken(deps: Deps, tokenRowId: string): string {
  return tokenUnder(deps.vault.derivedKey('access-token'), tokenRowId);
}

const tokenUnder = (key: Buffer, tokenRowId: string) => createHmac('sha256', key).update(tokenRowId).digest('hex').slice(0, 40);

/**
 * The token a live row was issued as: derived under whichever vault key was active then, so a
 * token issued before a key rotation is handed out again (and keeps working) after it. Null when
 * no key in the ring made it (its key was retired): the caller issues a new token.
 */
function liveToken(deps: Deps, row: { id: string; token_hash: string }): string | null {
  for (const key of deps.vault.derivedKeys('access-token')) {
    const token = tokenUnder(key, row.id);
    if (sha256Hex(token) === row.token_hash) return token;
  }
  return null;
}

/**
 * An imp_key as getToken matches it: V1 matches imp_key without regard to case (clients default
 * to `imp_apiKey` for `imp_apikey`). The per-key attempt bucket is named by this form too, or each
 * spelling of one key would get its own allowance of guesses at the secret.
 */
export function normalizeImpKey(impKey: string): string {
  return impKey.toLowerCase();
}

let dummyHash: Promise<string> | null = null;
const dummySecretHash = () => (dummyHash ??= hashSecret(randomBytes(24).toString('base64url')));

/**
 * POST /users/getToken. Returns the live token of this REST key if there is one (extended by five
 * minutes when asked for in its last minute), otherwise a new 30-minute token.
 */
export async function issueAccessToken(deps: Deps, impKey: string, impSecret: string) {
  const { db } = deps.store;
  const key = await db
    .selectFrom('api_keys')
    .selectAll()
    // the secret stays exact
    .where(sql<string>`lower(imp_key)`, '=', normalizeImpKey(impKey))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  // an unknown or revoked key costs the same scrypt as a wrong secret: timing does not tell which keys exist
  if (!(await verifySecret(impSecret, key?.secret_hash ?? (await dummySecretHash()))) || !key) {
    throw new PierError('unauthorized', BAD_CREDENTIALS, 'wrong imp_key or imp_secret');
  }
  // a sandbox clock moved by another process reaches this one's cache within a second: a token
  // issued on the old time would be born expired for a process that has seen the move
  await refreshClock(deps.clock);
  const now = unixSeconds(deps.clock);
  const live = await db
    .selectFrom('access_tokens')
    .selectAll()
    .where('api_key_id', '=', key.id)
    .where('expires_at', '>', now)
    .orderBy('expires_at', 'desc')
    .executeTakeFirst();
  const liveAs = live ? liveToken(deps, live) : null;
  if (live && liveAs) {
    let expiresAt = live.expires_at;
    if (expiresAt - now <= EXTEND_WINDOW_SECONDS) {
      expiresAt += EXTENSION_SECONDS;
      await db.updateTable('access_tokens').set({ expires_at: expiresAt }).where('id', '=', live.id).execute();
    }
    return { access_token: liveAs, now, expired_at: expiresAt };
  }
  const id = newId('tok');
  const token = deriveToken(deps, id);
  const expiresAt = now + TOKEN_TTL_SECONDS;
  await db
    .insertInto('access_tokens')
    .values({ id, merchant_id: key.merchant_id, api_key_id: key.id, token_hash: sha256Hex(token), issued_at: now, expires_at: expiresAt })
    .execute();
  return { access_token: token, now, expired_at: expiresAt };
}

/**
 * How long this process may answer for a token without asking the database again: a key revoked
 * or rotated by another process (CLI, console, another Pier on the same PostgreSQL) stops working
 * here within this time. Rotations made through this process take effect at once.
 * See docs/decisions/0017-payment-round-trips.md.
 */
export const TOKEN_CACHE_MS = 5_000;
const TOKEN_CACHE_MAX = 10_000;

interface CachedToken {
  merchant: AuthenticatedMerchant;
  expiresAt: number;
  /** deps.clock ms when read from the database */
  readAt: number;
}

/**
 * One cache per database handle, so Piers on different databases in one process never share
 * entries. Keyed by the token itself, not its SHA-256 (the database's key): a remembered token
 * then costs no hashing (a few µs on every request); the token is in this process's memory for
 * the request anyway, and entries live TOKEN_CACHE_MS.
 */
const tokenCaches = new WeakMap<object, Map<string, CachedToken>>();
const tokenCacheOf = (deps: Deps) => {
  let cache = tokenCaches.get(deps.store);
  if (!cache) tokenCaches.set(deps.store, (cache = new Map()));
  return cache;
};

/** Drops this process's cached tokens of a merchant (its REST key was just revoked or rotated here). */
export function forgetTokensOf(deps: Deps, merchantId: string): void {
  const cache = tokenCacheOf(deps);
  for (const [token, entry] of cache) if (entry.merchant.merchantId === merchantId) cache.delete(token);
}

/**
 * authenticateToken's answer when this process still remembers the token, without waiting for
 * anything (most requests: the HTTP layer then needs no promise); undefined when it must be read.
 */
export function rememberedToken(deps: Deps, token: string): AuthenticatedMerchant | undefined {
  return remembered(deps, token, deps.clock.now());
}

function remembered(deps: Deps, token: string, nowMs: number): AuthenticatedMerchant | undefined {
  const cached = tokenCacheOf(deps).get(token);
  if (cached && cached.expiresAt > Math.floor(nowMs / 1000) && nowMs >= cached.readAt && nowMs - cached.readAt < TOKEN_CACHE_MS) return cached.merchant;
  return undefined;
}

/**
 * Resolves a bearer token to its merchant; 401 when unknown or expired. A token found valid is
 * remembered for TOKEN_CACHE_MS of deps.clock (never past its own expiry; a clock moved back makes
 * every entry stale), which saves a database round trip on most requests.
 */
export async function authenticateToken(deps: Deps, token: string): Promise<AuthenticatedMerchant> {
  const nowMs = deps.clock.now();
  const now = Math.floor(nowMs / 1000);
  const known = remembered(deps, token, nowMs);
  if (known) return known;
  const cache = tokenCacheOf(deps);
  const hash = sha256Hex(token);
  const row = await deps.store.db
    .selectFrom('access_tokens')
    .innerJoin('merchants', 'merchants.id', 'access_tokens.merchant_id')
    .innerJoin('api_keys', 'api_keys.id', 'access_tokens.api_key_id')
    .select(['access_tokens.merchant_id', 'access_tokens.expires_at', 'merchants.merchant_code', 'api_keys.revoked_at'])
    .where('access_tokens.token_hash', '=', hash)
    .executeTakeFirst();
  if (!row || row.revoked_at !== null) {
    cache.delete(token);
    throw new PierError('unauthorized', 'Unauthorized', 'unknown access token');
  }
  let readAt = nowMs;
  if (row.expires_at <= now) {
    // before refusing, this process's view of a sandbox clock another process just moved back is
    // brought up to date (a no-op for the real clock)
    await refreshClock(deps.clock);
    readAt = deps.clock.now();
    if (row.expires_at <= Math.floor(readAt / 1000)) throw new PierError('unauthorized', 'Unauthorized', 'expired access token: get a new one from POST /users/getToken');
  }
  const merchant = { merchantId: row.merchant_id, merchantCode: row.merchant_code };
  cache.delete(token);
  if (cache.size >= TOKEN_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(token, { merchant, expiresAt: row.expires_at, readAt });
  return merchant;
}

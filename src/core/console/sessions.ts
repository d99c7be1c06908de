import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../../lib/password.js';
import type { Deps } from '../deps.js';
import { SandboxClock } from '../sandbox/clock.js';

/**
 * Console sessions and lockouts run on the injected clock without the sandbox offset: moving the
 * sandbox clock a month ahead to test schedules must not sign everybody out (or unlock users).
 */
export function consoleNow(deps: Deps): number {
  const c = deps.clock;
  return Math.floor((c instanceof SandboxClock ? c.now() - c.offsetMs : c.now()) / 1000);
}

/** A session ends after this much inactivity… */
export const SESSION_IDLE_SECONDS = 2 * 3600;
/** …and at the latest this long after sign-in. */
export const SESSION_MAX_SECONDS = 12 * 3600;

export interface ConsoleSession {
  userId: string;
  merchantId: string;
  email: string;
  merchantCode: string;
  merchantName: string;
  csrfToken: string;
  expiresAt: number;
}

/** Starts a session; returns the cookie value (only its hash is stored) and the CSRF token. */
export async function createSession(deps: Deps, userId: string, merchantId: string): Promise<{ token: string; csrfToken: string }> {
  const now = consoleNow(deps);
  const token = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  await deps.store.db
    .insertInto('console_sessions')
    .values({
      id_hash: sha256Hex(token),
      user_id: userId,
      merchant_id: merchantId,
      csrf_token: csrfToken,
      created_at: now,
      last_seen_at: now,
      expires_at: now + SESSION_MAX_SECONDS,
    })
    .execute();
  return { token, csrfToken };
}

/** The live session a cookie names, or null (unknown, idle too long, past its end, user locked). */
export async function loadSession(deps: Deps, token: string | undefined): Promise<ConsoleSession | null> {
  if (!token || token.length > 200) return null;
  const now = consoleNow(deps);
  const { db } = deps.store;
  const row = await db
    .selectFrom('console_sessions as s')
    .innerJoin('console_users as u', 'u.id', 's.user_id')
    .innerJoin('merchants as m', 'm.id', 's.merchant_id')
    .select(['s.id_hash', 's.user_id', 's.merchant_id', 's.csrf_token', 's.last_seen_at', 's.expires_at', 'u.email', 'u.locked_until', 'u.merchant_id as user_merchant_id', 'm.merchant_code', 'm.name'])
    .where('s.id_hash', '=', sha256Hex(token))
    .executeTakeFirst();
  if (!row) return null;
  if (row.expires_at <= now || row.last_seen_at + SESSION_IDLE_SECONDS <= now || row.locked_until > now || row.user_merchant_id !== row.merchant_id) {
    await db.deleteFrom('console_sessions').where('id_hash', '=', row.id_hash).execute();
    return null;
  }
  // touch at most once a minute: no write per request
  if (now - row.last_seen_at >= 60) {
    await db.updateTable('console_sessions').set({ last_seen_at: now }).where('id_hash', '=', row.id_hash).execute();
  }
  return {
    userId: row.user_id,
    merchantId: row.merchant_id,
    email: row.email,
    merchantCode: row.merchant_code,
    merchantName: row.name,
    csrfToken: row.csrf_token,
    expiresAt: row.expires_at,
  };
}

export async function deleteSession(deps: Deps, token: string | undefined): Promise<void> {
  if (!token) return;
  await deps.store.db.deleteFrom('console_sessions').where('id_hash', '=', sha256Hex(token)).execute();
}

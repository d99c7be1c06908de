import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { PierError } from '../errors.js';
import { unixSeconds } from '../../lib/clock.js';
import { consoleNow } from './sessions.js';
import { newId } from '../../lib/ids.js';
import { hashSecret, verifySecret } from '../../lib/password.js';
import { isUniqueViolation } from '../../store/db.js';
import type { ConsoleUsersTable } from '../../store/types.js';
import type { Deps } from '../deps.js';

/** Consecutive failed sign-ins that lock a console user. */
export const LOCKOUT_THRESHOLD = 5;
/** How long a lock lasts, in seconds (measured on the injected clock). */
export const LOCKOUT_SECONDS = 15 * 60;
export const MIN_PASSWORD_LENGTH = 10;

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,60}$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Field problems with a new console user's e-mail and password; empty when both are fine. */
export function consoleUserProblems(email: string, password: string): { email?: string; password?: string } {
  const problems: { email?: string; password?: string } = {};
  const e = normalizeEmail(email);
  if (!EMAIL_RE.test(e) || e.length > 200) problems.email = 'email_invalid';
  if (password.length < MIN_PASSWORD_LENGTH) problems.password = 'password_short';
  else if (password.length > 200) problems.password = 'password_long';
  return problems;
}

/** A random password for a generated user (sandbox): 20 URL-safe characters. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

/**
 * Creates a console user of a merchant. The e-mail is unique across Pier: it alone names the
 * user at sign-in.
 *
 * @example
 *   await createConsoleUser(deps, merchant.id, 'ops@shop.example', 'correct horse battery');
 */
export async function createConsoleUser(deps: Deps, merchantId: string, email: string, password: string): Promise<ConsoleUsersTable> {
  const problems = consoleUserProblems(email, password);
  if (problems.email) throw new PierError('invalid_parameter', `email: not a valid e-mail address`);
  if (problems.password) throw new PierError('invalid_parameter', `password: ${MIN_PASSWORD_LENGTH} to 200 characters`);
  const row: ConsoleUsersTable = {
    id: newId('cu'),
    merchant_id: merchantId,
    email: normalizeEmail(email),
    password_hash: await hashSecret(password),
    failed_count: 0,
    locked_until: 0,
    last_login_at: 0,
    created_at: unixSeconds(deps.clock),
  };
  try {
    await deps.store.db.insertInto('console_users').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new PierError('refused', `a console user with e-mail ${row.email} already exists`);
    throw err;
  }
  return row;
}

export async function listConsoleUsers(deps: Deps, merchantId: string) {
  return deps.store.db
    .selectFrom('console_users')
    .select(['id', 'email', 'locked_until', 'last_login_at', 'created_at'])
    .where('merchant_id', '=', merchantId)
    .orderBy('created_at')
    .execute();
}

export type SignInResult =
  | { outcome: 'ok'; user: ConsoleUsersTable }
  | { outcome: 'invalid' }
  | { outcome: 'locked'; until: number };

// Unknown e-mails still cost one scrypt, so timing does not tell which addresses exist.
let dummyHash: Promise<string> | null = null;

/**
 * Checks an e-mail and password. After LOCKOUT_THRESHOLD consecutive failures the user is locked
 * for LOCKOUT_SECONDS; while locked even the right password is refused. Each failure is an atomic
 * increment in the database (never a value read earlier and written back), so parallel guesses on
 * several Pier processes are all counted; the lock is set by the UPDATE that sees the count reach
 * the threshold, and a success clears the count only while the user is not locked.
 */
export async function signIn(deps: Deps, email: string, password: string): Promise<SignInResult> {
  const { db } = deps.store;
  const now = consoleNow(deps);
  const user = await db.selectFrom('console_users').selectAll().where('email', '=', normalizeEmail(email)).executeTakeFirst();
  if (!user) {
    dummyHash ??= hashSecret('pier-console-dummy-password');
    await verifySecret(password, await dummyHash);
    return { outcome: 'invalid' };
  }
  if (user.locked_until > now) {
    // the same scrypt as every other answer: a locked account answering at once would tell it exists
    await verifySecret(password, user.password_hash);
    return { outcome: 'locked', until: user.locked_until };
  }
  if (await verifySecret(password, user.password_hash)) {
    // guesses running alongside may have locked the user since it was read: then the lock wins
    const res = await db
      .updateTable('console_users')
      .set({ failed_count: 0, locked_until: 0, last_login_at: now })
      .where('id', '=', user.id)
      .where('locked_until', '<=', now)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return { outcome: 'ok', user };
    const locked = await db.selectFrom('console_users').select('locked_until').where('id', '=', user.id).executeTakeFirstOrThrow();
    return { outcome: 'locked', until: Number(locked.locked_until) };
  }
  // a lock that has expired starts a fresh count
  const counted = await db
    .updateTable('console_users')
    .set({
      failed_count: sql<number>`CASE WHEN locked_until > 0 AND locked_until <= ${now} THEN 1 ELSE failed_count + 1 END`,
      locked_until: sql<number>`CASE WHEN locked_until <= ${now} THEN 0 ELSE locked_until END`,
    })
    .where('id', '=', user.id)
    .returning(['failed_count', 'locked_until'])
    .executeTakeFirstOrThrow();
  if (Number(counted.locked_until) > now) return { outcome: 'locked', until: Number(counted.locked_until) };
  if (Number(counted.failed_count) < LOCKOUT_THRESHOLD) return { outcome: 'invalid' };
  // only the one UPDATE that still sees the count at the threshold sets the lock
  const until = now + LOCKOUT_SECONDS;
  const lockedNow = await db
    .updateTable('console_users')
    .set({ failed_count: 0, locked_until: until })
    .where('id', '=', user.id)
    .where('failed_count', '>=', LOCKOUT_THRESHOLD)
    .executeTakeFirst();
  if (Number(lockedNow.numUpdatedRows) === 1) {
    // a lock also ends every open session of the user
    await db.deleteFrom('console_sessions').where('user_id', '=', user.id).execute();
  }
  return { outcome: 'locked', until };
}

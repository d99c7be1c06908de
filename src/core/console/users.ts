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

/** What is wrong with a console password (at creation, reset or change alike), or undefined. */
export function passwordProblem(password: string): 'password_short' | 'password_long' | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return 'password_short';
  if (password.length > 200) return 'password_long';
  return undefined;
}

/** Field problems with a new console user's e-mail and password; empty when both are fine. */
export function consoleUserProblems(email: string, password: string): { email?: string; password?: string } {
  const problems: { email?: string; password?: string } = {};
  const e = normalizeEmail(email);
  if (!EMAIL_RE.test(e) || e.length > 200) problems.email = 'email_invalid';
  const p = passwordProblem(password);
  if (p) problems.password = p;
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
      // an operator's reset or the user's own change made since it was read: the old password no longer opens it
      .where('password_hash', '=', user.password_hash)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return { outcome: 'ok', user };
    const locked = await db.selectFrom('console_users').select('locked_until').where('id', '=', user.id).executeTakeFirst();
    if (locked && Number(locked.locked_until) > now) return { outcome: 'locked', until: Number(locked.locked_until) };
    return { outcome: 'invalid' };
  }
  return countFailure(deps, user.id, now);
}

/**
 * Counts one wrong password of a user (at sign-in, or as the current password of a change) and
 * locks the user at the threshold, ending every open session of theirs.
 */
async function countFailure(deps: Deps, userId: string, now: number): Promise<Exclude<SignInResult, { outcome: 'ok' }>> {
  const { db } = deps.store;
  // a lock that has expired starts a fresh count
  const counted = await db
    .updateTable('console_users')
    .set({
      failed_count: sql<number>`CASE WHEN locked_until > 0 AND locked_until <= ${now} THEN 1 ELSE failed_count + 1 END`,
      locked_until: sql<number>`CASE WHEN locked_until <= ${now} THEN 0 ELSE locked_until END`,
    })
    .where('id', '=', userId)
    .returning(['failed_count', 'locked_until'])
    .executeTakeFirst();
  // removed meanwhile: nothing to count
  if (!counted) return { outcome: 'invalid' };
  if (Number(counted.locked_until) > now) return { outcome: 'locked', until: Number(counted.locked_until) };
  if (Number(counted.failed_count) < LOCKOUT_THRESHOLD) return { outcome: 'invalid' };
  // only the one UPDATE that still sees the count at the threshold sets the lock
  const until = now + LOCKOUT_SECONDS;
  const lockedNow = await db
    .updateTable('console_users')
    .set({ failed_count: 0, locked_until: until })
    .where('id', '=', userId)
    .where('failed_count', '>=', LOCKOUT_THRESHOLD)
    .executeTakeFirst();
  if (Number(lockedNow.numUpdatedRows) === 1) {
    // a lock also ends every open session of the user
    await db.deleteFrom('console_sessions').where('user_id', '=', userId).execute();
  }
  return { outcome: 'locked', until };
}

/**
 * The console user of a merchant with this e-mail. The operator names both, so a typo in either
 * never reaches another merchant's user.
 */
export async function findConsoleUser(deps: Deps, merchantId: string, email: string): Promise<ConsoleUsersTable> {
  const user = await deps.store.db
    .selectFrom('console_users')
    .selectAll()
    .where('email', '=', normalizeEmail(email))
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst();
  if (!user) throw new PierError('not_found', `no console user ${normalizeEmail(email)} for this merchant`);
  return user;
}

/**
 * Operator: gives a user a new password (decision 0108). It also clears the failure count and any
 * lock (the operator acting on the account is the remedy the lock waits for) and ends every session
 * of the user, on every browser: whoever held the old password or a session made with it is out.
 * One transaction, so no request sees the new password beside an old session.
 */
export async function setConsoleUserPassword(deps: Deps, userId: string, password: string): Promise<{ sessionsEnded: number }> {
  if (passwordProblem(password)) throw new PierError('invalid_parameter', `password: ${MIN_PASSWORD_LENGTH} to 200 characters`);
  const hash = await hashSecret(password);
  return deps.store.db.transaction().execute(async (trx) => {
    const res = await trx.updateTable('console_users').set({ password_hash: hash, failed_count: 0, locked_until: 0 }).where('id', '=', userId).executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new PierError('not_found', 'the console user was removed meanwhile');
    const ended = await trx.deleteFrom('console_sessions').where('user_id', '=', userId).executeTakeFirst();
    return { sessionsEnded: Number(ended.numDeletedRows) };
  });
}

/**
 * Operator: lifts a lock (and the count of failures toward one) and ends every session of the
 * user: an operator asked to unlock is told someone was guessing, and the user signs in afresh.
 */
export async function unlockConsoleUser(deps: Deps, userId: string): Promise<{ wasLocked: boolean; sessionsEnded: number }> {
  const now = consoleNow(deps);
  return deps.store.db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('console_users').select('locked_until').where('id', '=', userId).executeTakeFirst();
    if (!before) throw new PierError('not_found', 'the console user was removed meanwhile');
    await trx.updateTable('console_users').set({ failed_count: 0, locked_until: 0 }).where('id', '=', userId).execute();
    const ended = await trx.deleteFrom('console_sessions').where('user_id', '=', userId).executeTakeFirst();
    return { wasLocked: Number(before.locked_until) > now, sessionsEnded: Number(ended.numDeletedRows) };
  });
}

/** Operator: removes a user and every session of theirs (sessions first: they reference the user). */
export async function removeConsoleUser(deps: Deps, userId: string): Promise<{ sessionsEnded: number }> {
  return deps.store.db.transaction().execute(async (trx) => {
    const ended = await trx.deleteFrom('console_sessions').where('user_id', '=', userId).executeTakeFirst();
    const res = await trx.deleteFrom('console_users').where('id', '=', userId).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1) throw new PierError('not_found', 'the console user was removed meanwhile');
    return { sessionsEnded: Number(ended.numDeletedRows) };
  });
}

export type PasswordChangeResult =
  | { outcome: 'ok' }
  | { outcome: 'invalid'; fields: { current_password?: 'wrong_current_password'; new_password?: 'password_short' | 'password_long' | 'password_unchanged' } }
  | { outcome: 'locked' };

/**
 * A signed-in user changes their own password (decision 0108). The current password is required,
 * and a wrong one counts toward the lockout exactly as a wrong sign-in does: a stolen session cannot
 * guess it more than LOCKOUT_THRESHOLD times, and the lock then ends that session too. On success
 * every session of the user ends, the one the change came from included (a copy of its cookie may
 * be what was stolen): the caller starts a new one for the browser that made the change.
 */
export async function changeOwnPassword(deps: Deps, userId: string, current: string, next: string): Promise<PasswordChangeResult> {
  const { db } = deps.store;
  const now = consoleNow(deps);
  const short = passwordProblem(next);
  const user = await db.selectFrom('console_users').selectAll().where('id', '=', userId).executeTakeFirst();
  if (!user) return { outcome: 'locked' };
  if (user.locked_until > now) return { outcome: 'locked' };
  if (!(await verifySecret(current, user.password_hash))) {
    const counted = await countFailure(deps, userId, now);
    return counted.outcome === 'locked' ? { outcome: 'locked' } : { outcome: 'invalid', fields: { current_password: 'wrong_current_password', ...(short ? { new_password: short } : {}) } };
  }
  if (short) return { outcome: 'invalid', fields: { new_password: short } };
  if (next === current) return { outcome: 'invalid', fields: { new_password: 'password_unchanged' } };
  const hash = await hashSecret(next);
  return db.transaction().execute(async (trx) => {
    // the hash the current password was checked against: a change or reset made meanwhile wins,
    // and this one answers as a wrong current password (which it now is)
    const res = await trx
      .updateTable('console_users')
      .set({ password_hash: hash, failed_count: 0 })
      .where('id', '=', userId)
      .where('password_hash', '=', user.password_hash)
      .where('locked_until', '<=', now)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return { outcome: 'invalid', fields: { current_password: 'wrong_current_password' } } as const;
    await trx.deleteFrom('console_sessions').where('user_id', '=', userId).execute();
    return { outcome: 'ok' } as const;
  });
}

import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleSession } from '../core/console/sessions.js';
import type { Deps } from '../core/deps.js';
import type { PgSimulatorTools } from '../lib/simulator-tools.js';
import { translate, type Lang, type MessageKey } from './i18n.js';

export const SESSION_COOKIE = 'pier_console';
export const PRE_CSRF_COOKIE = 'pier_console_pre';
export const LANG_COOKIE = 'pier_console_lang';
export const COOKIE_PATH = '/console';
/** Browsers accept a `__Host-` cookie only if it is Secure, Path=/ and without Domain, set by an https page. */
const HOST_PREFIX = '__Host-';

/**
 * Which cookies carry the console session and the sign-in form's CSRF token (decision 0064), and
 * the console's language (decision 0067).
 * Behind an https public URL they are `__Host-` cookies, which neither a sibling subdomain nor a
 * plain-http page can set, so nobody can plant a session or a known CSRF token in a merchant's
 * browser. Over plain http (a local sandbox) no prefix is possible: the names stay unprefixed,
 * scoped to /console.
 */
export interface CookieScheme {
  session: string;
  preCsrf: string;
  /** the language the merchant picked (`ko` / `en`) */
  lang: string;
  /** `__Host-` names, Path=/, always Secure */
  hostOnly: boolean;
  /** cookies an earlier scheme set that this one never reads: cleared when a browser sends them */
  retired: ReadonlyArray<{ name: string; path: string }>;
}

export function cookieSchemeOf(publicUrl: string | undefined): CookieScheme {
  const hostOnly = (publicUrl ?? '').toLowerCase().startsWith('https://');
  if (!hostOnly) return { session: SESSION_COOKIE, preCsrf: PRE_CSRF_COOKIE, lang: LANG_COOKIE, hostOnly, retired: [] };
  return {
    session: HOST_PREFIX + SESSION_COOKIE,
    preCsrf: HOST_PREFIX + PRE_CSRF_COOKIE,
    lang: HOST_PREFIX + LANG_COOKIE,
    hostOnly,
    retired: [
      { name: SESSION_COOKIE, path: COOKIE_PATH },
      { name: PRE_CSRF_COOKIE, path: COOKIE_PATH },
      // not read either (decision 0067): the merchant picks the language again once
      { name: LANG_COOKIE, path: COOKIE_PATH },
    ],
  };
}

export interface ConsoleOptions {
  deps: Deps;
  /** how merchants and PGs reach Pier (the NICE webhook URL a channel shows); default http://localhost:8080 */
  publicUrl?: string;
  /** the PGs' simulator tools, for the sandbox page (sandbox mode only) */
  simulatorTools?: readonly PgSimulatorTools[];
}

export interface ConsoleContext {
  lang: Lang;
  cookies: CookieScheme;
  session: ConsoleSession | null;
  t(key: MessageKey, vars?: Record<string, string | number>): string;
}

declare module 'fastify' {
  interface FastifyRequest {
    console: ConsoleContext;
  }
  interface FastifyContextConfig {
    /** console routes that need no console session (sign-in, assets) */
    consoleAnon?: boolean;
  }
}

/** A console request that passed the session guard. */
export function sessionOf(req: FastifyRequest): ConsoleSession {
  const s = req.console.session;
  if (!s) throw new Error('console route without a session');
  return s;
}

export const isApi = (req: FastifyRequest) => req.url.startsWith('/console/api/') || req.url === '/console/api';

export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Attributes of the session and pre-sign-in CSRF cookies, to set or to clear them (a browser drops a `__Host-` clearing without Secure and Path=/). */
export function guardCookieOptions(req: FastifyRequest, maxAge?: number) {
  const { hostOnly } = req.console.cookies;
  return {
    path: hostOnly ? '/' : COOKIE_PATH,
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: hostOnly || req.protocol === 'https',
    ...(maxAge !== undefined ? { maxAge } : {}),
  };
}

/**
 * Attributes of the language cookie: like the session's (a `__Host-` cookie at Path=/ behind an
 * https public URL, decision 0067), except that it is not HttpOnly (it holds nothing secret).
 */
export function langCookieOptions(req: FastifyRequest, maxAge: number) {
  return { ...guardCookieOptions(req, maxAge), httpOnly: false };
}

/** A string field of a parsed form or JSON body ('' when absent or not a string). */
export function field(body: unknown, name: string): string {
  const v = (body as Record<string, unknown> | null | undefined)?.[name];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** A checkbox / boolean field: form `on`/`1`/`true`, or JSON true. */
export function flag(body: unknown, name: string): boolean {
  const v = (body as Record<string, unknown> | null | undefined)?.[name];
  return v === true || v === 'on' || v === '1' || v === 'true' || v === 1;
}

/**
 * A path as a Location header may carry it: anything beyond printable ASCII percent-encoded (Node
 * refuses a header with CR, LF or a character past U+00FF, and the answer became a 500 after a
 * sign-in). Null for text that cannot be encoded (a lone surrogate).
 */
export function locationSafe(path: string): string | null {
  try {
    return path.replace(/[^\x21-\x7e]/gu, (ch) => encodeURIComponent(ch));
  } catch {
    return null;
  }
}

export function noStore(reply: FastifyReply) {
  reply.header('cache-control', 'no-store');
}

export { translate };

import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleSession } from '../core/console/sessions.js';
import type { Deps } from '../core/deps.js';
import { translate, type Lang, type MessageKey } from './i18n.js';

export const SESSION_COOKIE = 'pier_console';
export const PRE_CSRF_COOKIE = 'pier_console_pre';
export const LANG_COOKIE = 'pier_console_lang';
export const COOKIE_PATH = '/console';

export interface ConsoleOptions {
  deps: Deps;
  /** how merchants and PGs reach Pier (the NICE webhook URL a channel shows); default http://localhost:8080 */
  publicUrl?: string;
  /** the tPay simulator's base URL, for the sandbox tools (sandbox mode only) */
  simulatorUrl?: string;
}

export interface ConsoleContext {
  lang: Lang;
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

export function cookieOptions(req: FastifyRequest, maxAge?: number) {
  return {
    path: COOKIE_PATH,
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: req.protocol === 'https',
    ...(maxAge !== undefined ? { maxAge } : {}),
  };
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

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * The request id of the HTTP request being served, carried through every await of its handler
 * (core use cases, PG calls, the webhook event it writes) without passing it by hand, so one
 * payment can be followed through the logs end to end.
 *
 * @example
 *   runWithRequestId('req-1', async () => { currentRequestId(); }); // 'req-1'
 */
const storage = new AsyncLocalStorage<{ requestId: string }>();

export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn);
}

/** the id of the request this code runs for, or undefined in background work */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/**
 * A caller's `x-request-id` is kept when it is a short token (a proxy's or client's trace id, so the
 * two logs join); anything else (too long, spaces, control characters that could forge log lines)
 * is replaced by a fresh id.
 */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given && ACCEPTED_REQUEST_ID.test(given) ? given : randomUUID();
}

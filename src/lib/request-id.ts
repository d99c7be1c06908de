import { randomUUID } from 'node:crypto';

/**
 * A caller's `x-request-id` is kept when it is a short token (a proxy's or client's trace id, so the
 * two logs join); anything else (too long, spaces, control characters that could forge log lines)
 * is replaced by a fresh id. The id then travels with the request's deps (src/api/request-deps.ts).
 */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given && ACCEPTED_REQUEST_ID.test(given) ? given : randomUUID();
}

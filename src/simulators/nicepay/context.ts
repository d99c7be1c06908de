/**
 * What every part of the NICEPAY simulator shares: its ledger, clock, options, fault board and
 * webhook sender, plus the small request helpers (caller authentication, signData checks, amounts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../lib/clock.js';
import type { OverseasCards } from '../shared/test-cards.js';
import type { CallCounts, FaultBoard } from './faults.js';
import type { NicepayLedger } from './ledger.js';
import { sameHex, sha256Hex } from './protocol.js';
import type { WebhookSender } from './webhooks.js';

export interface NiceSimContext {
  ledger: NicepayLedger;
  clock: Clock;
  faults: FaultBoard;
  /** the REST calls made, per clientId and operation (`GET /__control/calls`) */
  calls: CallCounts;
  webhooks: WebhookSender;
  /** card approvals below this answer `3041` */
  minimumAmount: number;
  overseasCards: OverseasCards;
  /** reproduce the sandbox's `U128` on any cancel that carries `cancelAmt` */
  strictSandbox: boolean;
  /** whether `POST /v1/key-in/payments` is enabled for every shop (else `A128`) */
  keyIn: boolean;
  /** how long an authenticated tid stays approvable (`A245` after) */
  authTtlMs: number;
  /** how long after approval a net-cancel works (`2020` after) */
  netCancelWindowMs: number;
  /** how long a window page stays usable */
  windowTtlMs: number;
  /**
   * clientIds (`*` = every one) whose virtual accounts are issued without a deadline, answered
   * `vbankExpDate: null` as NICE sometimes does ([E2], spec §2.3): `POST /__control/vbank/no-deadline`
   */
  vbankWithoutDeadline: Set<string>;
  publicUrl?: string;
}

export interface Caller {
  clientId: string;
  secretKey: string;
}

/** Where buyers (and merchants following receipt links) reach the simulator. */
export function publicBase(ctx: NiceSimContext, req: FastifyRequest): string {
  if (ctx.publicUrl) return ctx.publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.host}`;
}

export type Json = Record<string, unknown>;

export function sendUnauthorized(reply: FastifyReply, resultMsg = '인증에 실패하였습니다.'): FastifyReply {
  return reply.code(401).send({ resultCode: 'U104', resultMsg });
}

/**
 * The caller of a REST call (spec §0.3): Basic `clientId:secretKey`, or Bearer with a token from
 * `POST /v1/access-token`. A clientId seen for the first time is enrolled with the secret it brings
 * (OUR DESIGN, so any key pair works without setup); afterwards a different secret is refused.
 */
export function authenticate(ctx: NiceSimContext, req: FastifyRequest, opts: { basicOnly?: boolean } = {}): Caller | null {
  const header = req.headers.authorization ?? '';
  const [scheme, value] = header.split(' ', 2) as [string, string | undefined];
  if (!value) return null;
  if (scheme.toLowerCase() === 'bearer' && !opts.basicOnly) {
    const clientId = ctx.ledger.clientOfToken(value, ctx.clock.now());
    const secretKey = clientId ? ctx.ledger.secretOf(clientId) : null;
    return clientId && secretKey ? { clientId, secretKey } : null;
  }
  if (scheme.toLowerCase() !== 'basic') return null;
  if (!/^[A-Za-z0-9+/]+=*$/.test(value)) return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  const clientId = decoded.slice(0, colon);
  const secretKey = decoded.slice(colon + 1);
  if (!/^[\x21-\x7e]{1,50}$/.test(clientId) || !/^[\x21-\x7e]{1,100}$/.test(secretKey)) return null;
  const known = ctx.ledger.secretOf(clientId);
  if (known === null) {
    ctx.ledger.putKey(clientId, secretKey, ctx.clock.now());
    return { clientId, secretKey };
  }
  return sameHex(Buffer.from(known).toString('hex'), Buffer.from(secretKey).toString('hex')) ? { clientId, secretKey: known } : null;
}

/**
 * Checks an optional `signData` (spec §0.5): absent passes; present needs `ediDate` and must equal
 * sha256 of one of the accepted inputs + ediDate + secretKey. Returns true when it passes.
 */
export function signDataOk(source: Json, inputs: string[], secretKey: string): boolean {
  const signData = source.signData;
  if (signData === undefined || signData === null || signData === '') return true;
  const ediDate = source.ediDate;
  if (typeof signData !== 'string' || typeof ediDate !== 'string' || !ediDate) return false;
  return inputs.some((input) => sameHex(signData, sha256Hex(`${input}${ediDate}${secretKey}`)));
}

/** A positive whole KRW amount of at most 12 digits, as a JSON number or a numeric string (spec §1.6); else null. */
export function parseAmount(v: unknown): number | null {
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  if (!/^\d{1,12}$/.test(text)) return null;
  const n = Number(text);
  return n > 0 ? n : null;
}

/** A string field of a JSON body: trimmed text, or null when absent/empty/not text. */
export function text(body: Json, key: string): string | null {
  const v = body[key];
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

export const body = (req: FastifyRequest): Json => (req.body && typeof req.body === 'object' ? (req.body as Json) : {});

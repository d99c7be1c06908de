/**
 * Fault injection for the NICEPAY simulator's REST calls: faults queued through
 * `POST /__control/faults` and the answer holds of the `…998` amount trigger. docs/simulator-nicepay.md.
 */
import type { FastifyReply } from 'fastify';
import { HeldAnswers } from '../shared/held-answers.js';

export const NICE_OPERATIONS = [
  'approve',
  'payment',
  'find',
  'cancel',
  'netcancel',
  'regist',
  'billing_pay',
  'expire',
  'keyin',
  'access_token',
] as const;
export type NiceOperation = (typeof NICE_OPERATIONS)[number];

export const FAULT_KINDS = ['timeout', '5xx', 'garbage', 'code'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * `before`: the call is not processed at all (nothing recorded). `after`: the call is processed and
 * recorded (an approval is paid), then the answer is lost: held, a 500, or a body that is not JSON;
 * or, for kind `code`, answered HTTP 200 with `resultCode` instead, as NICE does when its own
 * processing fails after the approval (a `U506` DB insert error on a charge it approved).
 */
export type FaultWhen = 'before' | 'after';

export interface NiceFault {
  op: NiceOperation;
  kind: FaultKind;
  when: FaultWhen;
  /** how many more calls of `op` it applies to */
  remaining: number;
  clientId?: string;
  /** kind `code`: the failure answered (HTTP 200, no signature) */
  resultCode?: string;
  resultMsg?: string;
}

/**
 * How many REST calls of each operation each clientId made (authenticated calls, faulty or not), so a
 * test can count what Pier asked of NICE: `GET /__control/calls?clientId=`, `DELETE` to start over.
 */
export class CallCounts {
  private readonly counts = new Map<string, Partial<Record<NiceOperation, number>>>();

  count(op: NiceOperation, clientId: string): void {
    let c = this.counts.get(clientId);
    if (!c) this.counts.set(clientId, (c = {}));
    c[op] = (c[op] ?? 0) + 1;
  }

  /** per operation, for one clientId or summed over all */
  of(clientId?: string): Partial<Record<NiceOperation, number>> {
    if (clientId) return { ...(this.counts.get(clientId) ?? {}) };
    const sum: Partial<Record<NiceOperation, number>> = {};
    for (const c of this.counts.values()) for (const [op, n] of Object.entries(c)) sum[op as NiceOperation] = (sum[op as NiceOperation] ?? 0) + n;
    return sum;
  }

  clear(): void {
    this.counts.clear();
  }
}

export class FaultBoard {
  private readonly faults: NiceFault[] = [];
  private readonly held: HeldAnswers;

  constructor(slowResponseMs: number) {
    this.held = new HeldAnswers(slowResponseMs);
  }

  add(f: NiceFault): void {
    this.faults.push(f);
  }

  list(): NiceFault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** Takes one use of the first fault queued for this call, if any. */
  take(op: NiceOperation, clientId: string | undefined): NiceFault | undefined {
    const i = this.faults.findIndex((f) => f.op === op && (!f.clientId || f.clientId === clientId));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.remaining -= 1;
    if (f.remaining <= 0) this.faults.splice(i, 1);
    return { ...f };
  }

  get heldCount(): number {
    return this.held.count;
  }

  releaseAll(): number {
    return this.held.releaseAll();
  }

  /** Holds an answer (see HeldAnswers). Resolves true if the client is still there. */
  hold(reply: FastifyReply): Promise<boolean> {
    return this.held.hold(reply);
  }
}

/** A 500 as a load balancer in front of a failing PG would answer it. */
export function send5xx(reply: FastifyReply): FastifyReply {
  return reply.code(500).type('text/html').send('<html><body><h1>500 Internal Server Error</h1></body></html>');
}

/** A 200 whose body is not JSON (a truncated answer). */
export function sendGarbage(reply: FastifyReply): FastifyReply {
  return reply.code(200).type('application/json').send('{"resultCode":"0000","resultMsg":"정상 처리되었');
}

/** Known messages of codes a `code` fault is likely to be asked for (spec §5.3, §8); others get a generic one. */
const FAULT_MESSAGES: Record<string, string> = {
  '9999': '일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.',
  '2020': '망취소 허용시간을 초과하였습니다.',
  P035: '망취소 요청 오류',
  U501: '외부 연동 오류',
  U503: '망취소 요청',
  U504: '결제 실패(망취소)',
  U506: 'DB insert 오류',
  U507: 'DB update 오류',
  U508: 'socket 오류',
  A226: '통신 오류',
  A299: 'API 지연',
};

/** The failure answer of a `code` fault: NICE's shape for a failure (no signature), with the call's tid and orderId when it had them. */
export function codeFaultBody(f: NiceFault, ids: { tid?: unknown; orderId?: unknown }): Record<string, unknown> {
  const code = f.resultCode!;
  return {
    resultCode: code,
    resultMsg: f.resultMsg ?? FAULT_MESSAGES[code] ?? `시뮬레이터가 주입한 오류 (${code})`,
    messageSource: 'nicepay',
    ...(typeof ids.tid === 'string' ? { tid: ids.tid } : {}),
    ...(typeof ids.orderId === 'string' ? { orderId: ids.orderId } : {}),
  };
}

/**
 * Fault injection for the NICEPAY simulator's REST calls: faults queued through
 * `POST /__control/faults` and the answer holds of the `…998` amount trigger. docs/simulator-nicepay.md.
 */
import type { FastifyReply } from 'fastify';

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

export const FAULT_KINDS = ['timeout', '5xx', 'garbage'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * `before`: the call is not processed at all (nothing recorded). `after`: the call is processed and
 * recorded (an approval is paid), then the answer is lost: held, a 500, or a body that is not JSON.
 */
export type FaultWhen = 'before' | 'after';

export interface NiceFault {
  op: NiceOperation;
  kind: FaultKind;
  when: FaultWhen;
  /** how many more calls of `op` it applies to */
  remaining: number;
  clientId?: string;
}

export class FaultBoard {
  private readonly faults: NiceFault[] = [];
  private readonly holds = new Set<() => void>();

  constructor(private readonly slowResponseMs: number) {}

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
    return this.holds.size;
  }

  releaseAll(): number {
    const n = this.holds.size;
    for (const release of [...this.holds]) release();
    return n;
  }

  /** Waits `slowResponseMs`, a release, or the client leaving. Resolves true if the client is still there. */
  hold(reply: FastifyReply): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (stillThere: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reply.raw.off('close', onClose);
        this.holds.delete(release);
        resolve(stillThere);
      };
      const onClose = () => finish(false);
      const release = () => finish(!reply.raw.destroyed);
      const timer = setTimeout(release, this.slowResponseMs);
      reply.raw.once('close', onClose);
      this.holds.add(release);
    });
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

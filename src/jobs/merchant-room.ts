/**
 * A lane's room per merchant: at most `cap` of its rows run for one merchant at once, so a merchant
 * whose PG holds every call until the read timeout takes its own slots only, and another merchant's
 * due rows are not left waiting behind all of its rows due earlier (decisions 0051, 0093).
 *
 * A claim leaves out the merchants with less room than `refillAt` (the cap itself by default: only
 * those at the cap) and takes no more rows than the fullest other merchant has room for, since its
 * rows may all be one merchant's.
 */
export class MerchantRoom {
  private readonly running = new Map<string, number>();
  readonly refillAt: number;

  constructor(
    readonly cap: number,
    refillAt = 1,
  ) {
    this.refillAt = Math.max(1, Math.min(refillAt, cap));
  }

  /** What the next claim may take: the merchants it leaves out, and at most how many rows. */
  forClaim(limit: number): { leftOut: string[]; limit: number } {
    const leftOut: string[] = [];
    let room = Math.min(limit, this.cap);
    for (const [merchantId, n] of this.running) {
      if (this.cap - n < this.refillAt) leftOut.push(merchantId);
      else room = Math.min(room, this.cap - n);
    }
    return { leftOut, limit: room };
  }

  /** A claimed row of `merchantId` starts. */
  took(merchantId: string): void {
    this.running.set(merchantId, (this.running.get(merchantId) ?? 0) + 1);
  }

  /** A row of `merchantId` ended; true when the merchant has `refillAt` room again (a claim may take its rows). */
  ended(merchantId: string): boolean {
    const n = (this.running.get(merchantId) ?? 1) - 1;
    if (n <= 0) this.running.delete(merchantId);
    else this.running.set(merchantId, n);
    return this.cap - n >= this.refillAt;
  }
}

/**
 * Domain errors of payments. The core raises these; the API edge (src/api/app.ts) maps them to the
 * V1 envelope once.
 */

/**
 * The PG may have acted on a charge but its answer was lost (timeout, 5xx, garbage, a proxy's 4xx)
 * and an immediate inquiry could not settle it. The attempt stays in doubt, holding its
 * merchant_uid; reconciliation settles it and the `paid` or `failed` webhook follows.
 */
export class PaymentOutcomeUnknownError extends Error {
  override name = 'PaymentOutcomeUnknownError';
  constructor(readonly impUid: string) {
    super(`PG사 응답을 받지 못해 결제 결과를 확인 중입니다. 결과가 확정되면 웹훅(paid 또는 failed)이 전송되니, 잠시 후 결제 내역을 조회하세요. (imp_uid: ${impUid})`);
  }
  /** Pier's English explanation (the `x-pier-detail` header; `message` stays Korean) */
  get detail(): string {
    return `the PG's answer was lost; the outcome is being confirmed with the PG: look up imp_uid ${this.impUid}`;
  }
}

/**
 * A charge made with a fence (payments/attempts.ts AttemptFence: a scheduled charge's lease) found
 * its fence gone: nothing was recorded and the PG was not asked.
 */
export class AttemptFenceLostError extends Error {
  override name = 'AttemptFenceLostError';
  constructor(readonly impUid: string) {
    super(`the charge's fence changed no row; attempt ${impUid} was not recorded`);
  }
}

/**
 * A new attempt's imp_uid was already a payment's (12 random digits: among a million payments, a
 * new one draws a used id once in a million). Nothing was recorded and the PG was not asked: the
 * caller records the attempt again under another imp_uid. Before, the insert's conflict was taken
 * for the merchant_uid lock's, and the charge was refused as "in progress".
 */
export class ImpUidTakenError extends Error {
  override name = 'ImpUidTakenError';
  constructor(readonly impUid: string) {
    super(`imp_uid ${impUid} is taken; the attempt was not recorded`);
  }
}

/**
 * The HTTP client of a charge closed its connection while the charge waited for the database,
 * before its attempt was recorded (Deps.clientGone): nothing was recorded and the PG was not asked.
 * Under overload the requests at the back of the queue are the ones their clients give up on;
 * charging them would spend the capacity the waiting ones need on answers no one reads.
 */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  constructor(readonly impUid: string) {
    super(`the client closed its connection before attempt ${impUid} was recorded; nothing was recorded or charged`);
  }
}

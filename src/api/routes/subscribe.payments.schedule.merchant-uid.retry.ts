import Type from 'typebox';
import type { PierApp } from '../app.js';
import { retrySchedule } from '../../core/schedules/schedules.js';
import { ok } from '../errors.js';
import { merchantOf } from '../request-helpers.js';
import { StoredMerchantUid } from '../schemas.js';

/**
 * POST /subscribe/payments/schedule/{merchant_uid}/retry — charges a failed or revoked schedule now.
 * Answers the Payment: read its `status` (a decline is code 0 with `failed`, as V1).
 */
export default function route(app: PierApp) {
  app.post(
    '/subscribe/payments/schedule/:merchant_uid/retry',
    {
      schema: {
        tags: ['scheduled payments'],
        summary: 'Charge a failed or revoked schedule now',
        params: Type.Object({ merchant_uid: StoredMerchantUid }),
      },
    },
    async (req) => ok(await retrySchedule(req.deps, merchantOf(req), req.params.merchant_uid)),
  );
}

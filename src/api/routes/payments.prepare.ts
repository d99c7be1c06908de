import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getPrepare, registerPrepare, updatePrepare } from '../../core/payments/prepare.js';
import { ok } from '../errors.js';
import { Amount, MerchantUid, StoredMerchantUid } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

const Currency = Type.Optional(Type.Union([Type.Literal('KRW'), Type.Null()]));
/**
 * POST registers the amount the window must be paid with; PUT changes it. Both take only a
 * merchant_uid the window takes: an older one (decision 0068) can never be paid through the
 * window, so an amount set for it would guard nothing (decision 0074). GET reads any stored one.
 */
const Body = Type.Object({ merchant_uid: MerchantUid, amount: Amount, currency: Currency });

/** POST and PUT /payments/prepare, GET /payments/prepare/{merchant_uid} — amount pre-registration. */
export default function route(app: PierApp) {
  app.post('/payments/prepare', { schema: { tags: ['prepare'], summary: 'Register the amount of a merchant_uid', body: Body } }, async (req) =>
    ok(await registerPrepare(req.deps, merchantOf(req), req.body.merchant_uid, req.body.amount, req.body.currency ?? null)),
  );
  app.put('/payments/prepare', { schema: { tags: ['prepare'], summary: 'Change a registered amount', body: Body } }, async (req) =>
    ok(await updatePrepare(req.deps, merchantOf(req), req.body.merchant_uid, req.body.amount, req.body.currency ?? null)),
  );
  app.get(
    '/payments/prepare/:merchant_uid',
    { schema: { tags: ['prepare'], summary: 'Get a registered amount', params: Type.Object({ merchant_uid: StoredMerchantUid }) } },
    async (req) => ok(await getPrepare(req.deps, merchantOf(req), req.params.merchant_uid)),
  );
}

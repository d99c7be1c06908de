import Type from 'typebox';
import type { PierApp } from '../app.js';
import { resolveChannel } from '../../core/merchants/channels.js';
import { findOpenVbank, revokeVbank } from '../../core/virtual-accounts/revoke.js';
import { PierError, ok } from '../errors.js';
import { Amount, BuyerFields, CustomData, ImpUid, MerchantUid, OptString, Pg } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/**
 * POST /vbanks — issuing a virtual account without the payment window. Only PGs whose connector
 * declares `vbankApi` can; JTNET cannot (spec/jtnet.md §1.2), so Pier says so instead of pretending.
 * DELETE /vbanks/{imp_uid} revokes an unpaid one (issued in the window); PUT answers "not supported"
 * (V1: settle only). Choices: docs/decisions/0006-virtual-accounts.md.
 */
export default function route(app: PierApp) {
  app.post(
    '/vbanks',
    {
      schema: {
        tags: ['virtual accounts'],
        summary: 'Issue a virtual account (PGs with a vbank API contract only)',
        body: Type.Object({
          merchant_uid: MerchantUid,
          amount: Amount,
          vbank_code: Type.String({ pattern: '^[0-9]{2,3}$' }), // older clients send V1's two-digit codes ('03')
          vbank_due: Type.Integer({ minimum: 0 }),
          vbank_holder: OptString(40),
          name: OptString(200),
          pg: Pg,
          channel_key: OptString(200),
          custom_data: CustomData,
          ...BuyerFields,
        }),
      },
    },
    async (req) => {
      const channel = await resolveChannel(req.deps, merchantOf(req), req.body.pg, 'api');
      if (!channel.connector.capabilities.vbankApi) {
        // V1 answers a channel without a virtual-account contract as a business refusal (docs/decisions/0011)
        throw new PierError('refused', `${channel.row.provider}(${channel.row.mid})는 가상계좌 발급 API를 지원하지 않습니다. PG사와 별도 계약이 필요합니다.`);
      }
      throw new PierError('not_supported', '가상계좌 발급 API는 아직 지원하지 않습니다.');
    },
  );

  app.put(
    '/vbanks/:imp_uid',
    {
      schema: {
        tags: ['virtual accounts'],
        summary: "Change an unpaid virtual account's amount or due date (V1: settle only; no connector supports it)",
        params: Type.Object({ imp_uid: ImpUid }),
        body: Type.Object({ amount: Type.Optional(Amount), vbank_due: Type.Optional(Type.Integer({ minimum: 0 })) }),
      },
    },
    async (req) => {
      const p = await findOpenVbank(req.deps, merchantOf(req), req.params.imp_uid);
      throw new PierError(
        'not_supported',
        `${p.pg_provider}(${p.pg_id})는 가상계좌 정보 변경을 지원하지 않습니다.`,
      );
    },
  );

  app.delete(
    '/vbanks/:imp_uid',
    {
      schema: {
        tags: ['virtual accounts'],
        summary: 'Revoke an unpaid virtual account (status becomes cancelled)',
        params: Type.Object({ imp_uid: ImpUid }),
        querystring: Type.Object({ pg_api_key: Type.Optional(Type.String({ maxLength: 200 })) }),
      },
    },
    async (req) => ok(await revokeVbank(req.deps, merchantOf(req), req.params.imp_uid)),
  );
}

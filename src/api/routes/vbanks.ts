import Type from 'typebox';
import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import { resolveChannel } from '../../core/channels.js';
import { ApiError } from '../errors.js';
import { Amount, BuyerFields, CustomData, MerchantUid, OptString, Pg } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/**
 * POST /vbanks — issuing a virtual account without the payment window. Only PGs whose connector
 * declares `vbankApi` can; JTNET cannot (spec/jtnet.md §1.2), so Pier says so instead of pretending.
 */
export default function route(app: PierApp, deps: Deps) {
  app.post(
    '/vbanks',
    {
      schema: {
        tags: ['virtual accounts'],
        summary: 'Issue a virtual account (PGs with a vbank API contract only)',
        body: Type.Object({
          merchant_uid: MerchantUid,
          amount: Amount,
          vbank_code: Type.String({ pattern: '^[0-9]{3}$' }),
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
      const channel = await resolveChannel(deps, merchantOf(req), req.body.pg, 'api');
      if (!channel.connector.capabilities.vbankApi) {
        throw new ApiError(
          'not_supported',
          `${channel.row.provider}(${channel.row.mid})는 가상계좌 발급 API를 지원하지 않습니다. PG사와 별도 계약이 필요합니다. (virtual accounts by API are not supported by this PG; use the payment window with pay_method 'vbank')`,
        );
      }
      throw new ApiError('not_supported', 'POST /vbanks is not implemented for any connector yet');
    },
  );
}

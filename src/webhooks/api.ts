import Type from 'typebox';
import type { PierApp } from '../api/app.js';
import { PierError, ok } from '../api/errors.js';
import { merchantOf } from '../api/request-helpers.js';
import { StoredMerchantUidItem } from '../api/schemas.js';
import { DELIVERY_NOT_FOUND, getDelivery, listDeliveries, redeliver } from './deliveries.js';
import { closeListener, openListener, pollListener, reportListenerResult } from './listen.js';
import { rotateWebhookSecret, setWebhookSettings, webhookSettings } from './settings.js';

const TAG = 'webhooks (Pier, non-V1)';
const Id = Type.String({ minLength: 1, maxLength: 40, pattern: '^[A-Za-z0-9_]+$' });

/**
 * Pier's own webhook API (not part of V1), under /pier/webhooks, authenticated like V1 with the
 * merchant's access token and answering the V1 envelope: the merchant's endpoint and signing
 * secret, the delivery log with every attempt, redelivery, and `pier listen` sessions.
 */
export function webhookRoutes(app: PierApp) {
  const settingsJson = (s: Awaited<ReturnType<typeof webhookSettings>>) => ({ url: s.url, content_type: s.contentType, secret: s.secret });

  app.get('/pier/webhooks/settings', { schema: { tags: [TAG], summary: 'Webhook URL, content type and signing secret' } }, async (req) =>
    ok(settingsJson(await webhookSettings(req.deps, merchantOf(req)))),
  );

  app.put(
    '/pier/webhooks/settings',
    {
      schema: {
        tags: [TAG],
        summary: 'Set the webhook URL (null removes it) and content type (json | form)',
        body: Type.Object({
          url: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
          content_type: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('form')])),
        }),
      },
    },
    async (req) => ok(settingsJson(await setWebhookSettings(req.deps, merchantOf(req), { url: req.body.url, contentType: req.body.content_type }))),
  );

  app.post('/pier/webhooks/settings/rotate-secret', { schema: { tags: [TAG], summary: 'Replace the signing secret' } }, async (req) =>
    ok(settingsJson(await rotateWebhookSecret(req.deps, merchantOf(req)))),
  );

  app.get(
    '/pier/webhooks/deliveries',
    {
      schema: {
        tags: [TAG],
        summary: 'Webhook deliveries, newest first',
        querystring: Type.Object({
          imp_uid: Type.Optional(Type.String({ maxLength: 32 })),
          // a lookup: any merchant_uid a payment could have been stored under (decision 0068)
          merchant_uid: Type.Optional(StoredMerchantUidItem),
          state: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('sending'), Type.Literal('delivered'), Type.Literal('failed')])),
          page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const page = q.page ?? 1;
      const limit = q.limit ?? 20;
      const { total, capped, page: shown, list } = await listDeliveries(req.deps.store, {
        merchantId: merchantOf(req),
        impUid: q.imp_uid,
        merchantUid: q.merchant_uid,
        state: q.state,
        limit,
        offset: (page - 1) * limit,
      });
      const last = Math.max(1, Math.ceil(total / limit));
      return ok({ total, capped, previous: shown > 1 ? shown - 1 : 0, next: shown < last ? shown + 1 : 0, list });
    },
  );

  app.get(
    '/pier/webhooks/deliveries/:id',
    { schema: { tags: [TAG], summary: 'One delivery with every attempt (status code, error, duration)', params: Type.Object({ id: Id }) } },
    async (req) => {
      const d = await getDelivery(req.deps.store, req.params.id, merchantOf(req));
      if (!d) throw new PierError('not_found', DELIVERY_NOT_FOUND);
      return ok(d);
    },
  );

  app.post(
    '/pier/webhooks/deliveries/:id/redeliver',
    { schema: { tags: [TAG], summary: 'Send a delivery (or every delivery of an event) again', params: Type.Object({ id: Id }) } },
    async (req) => ok({ deliveries: await redeliver(req.deps, req.params.id, merchantOf(req)) }),
  );

  // ---- pier listen --------------------------------------------------------------------------

  app.post(
    '/pier/webhooks/listeners',
    {
      schema: {
        tags: [TAG],
        summary: 'Open a `pier listen` session: new events get a delivery for it while it polls',
        body: Type.Object({ forward_to: Type.String({ minLength: 1, maxLength: 2000 }) }),
      },
    },
    async (req) => ok(await openListener(req.deps, merchantOf(req), req.body.forward_to)),
  );

  app.post(
    '/pier/webhooks/listeners/:id/poll',
    { schema: { tags: [TAG], summary: "Claim the session's due deliveries, signed and ready to forward", params: Type.Object({ id: Id }) } },
    async (req) => ok(await pollListener(req.deps, merchantOf(req), req.params.id)),
  );

  app.post(
    '/pier/webhooks/listeners/:id/deliveries/:delivery/result',
    {
      schema: {
        tags: [TAG],
        summary: 'Report what the local endpoint answered',
        params: Type.Object({ id: Id, delivery: Id }),
        body: Type.Object({
          status_code: Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.Null()]),
          error: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
          duration_ms: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
          excerpt: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      const okStatus = b.status_code !== null && b.status_code >= 200 && b.status_code < 300;
      const state = await reportListenerResult(req.deps, merchantOf(req), req.params.id, req.params.delivery, {
        ok: okStatus,
        statusCode: b.status_code,
        error: okStatus ? null : (b.error ?? `HTTP ${b.status_code}`),
        durationMs: b.duration_ms,
        excerpt: b.excerpt ?? null,
      });
      return ok({ state });
    },
  );

  app.delete('/pier/webhooks/listeners/:id', { schema: { tags: [TAG], summary: 'Close a listen session', params: Type.Object({ id: Id }) } }, async (req) => {
    await closeListener(req.deps, merchantOf(req), req.params.id);
    return ok({ closed: true });
  });
}

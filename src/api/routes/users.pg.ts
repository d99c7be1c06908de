import type { PierApp } from '../app.js';
import { listChannels } from '../../core/merchants/channels.js';
import { ok } from '../errors.js';
import { merchantOf } from '../request-helpers.js';

/** GET /users/pg — the merchant's PG channels (never their secrets). */
export default function route(app: PierApp) {
  app.get('/users/pg', { schema: { tags: ['merchant'], summary: 'PG settings of this merchant' } }, async (req) => {
    const rows = await listChannels(req.deps, merchantOf(req));
    return ok(
      rows.map((c) => ({
        pg_provider: c.provider,
        pg_id: c.mid,
        sandbox: c.sandbox === 1,
        type: c.kind === 'window' ? 'payment' : 'api_payment',
        channel_name: c.name,
        channel_key: c.id,
        is_default: c.is_default === 1,
      })),
    );
  });
}

import Type from 'typebox';
import type { PierApp } from '../app.js';
import { issueAccessToken, normalizeImpKey } from '../../core/merchants/auth.js';
import { attemptBuckets, takeAttempt } from '../../core/merchants/rate-limit.js';
import { PierError, ok } from '../errors.js';

/** POST /users/getToken — JSON or form body; 30-minute token, reissued while valid. */
export default function route(app: PierApp) {
  app.post(
    '/users/getToken',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Issue an access token',
        security: [],
        // null is how clients send an unset key (node-iamporter `getToken(null, null)`): V1 names the missing parameters
        body: Type.Object({ imp_key: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])), imp_secret: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])) }),
      },
    },
    async (req) => {
      const { imp_key, imp_secret } = req.body ?? {};
      if (!imp_key || !imp_secret) throw new PierError('missing_credentials', 'imp_key, imp_secret 파라메터가 누락되었습니다.');
      // counted before the scrypt runs, so a burst of guesses is refused before it costs anything
      const attempt = await takeAttempt(req.deps.store, req.deps.clock, attemptBuckets('getToken', req.ip, normalizeImpKey(imp_key), req.deps.rateLimits));
      const token = await issueAccessToken(req.deps, imp_key, imp_secret);
      await attempt.succeeded();
      return ok(token);
    },
  );
}

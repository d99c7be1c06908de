import Type from 'typebox';
import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import { advanceSandboxClock, formatDuration, parseDuration, readSandboxOffset, resetSandboxClock, SandboxClock } from '../../core/sandbox/clock.js';
import { PierError, ok } from '../errors.js';

const TAG = 'sandbox (Pier, non-V1)';

/**
 * Sandbox time control (not part of V1), registered in sandbox mode only: read, advance and reset
 * Pier's clock. The offset is stored in the database, so every Pier process and the CLI
 * (`pier sandbox clock …`) agree within a second; getToken and a token found expired re-read it at
 * once, so a token is never judged on a process's stale view. Access tokens are timed by the same
 * clock: advancing it past their 30 minutes makes them expire, so get a new one afterwards.
 */
export default function route(app: PierApp, deps: Deps) {
  if (deps.mode !== 'sandbox') return;

  const state = async () => {
    const offsetMs = deps.clock instanceof SandboxClock ? await deps.clock.refresh() : await readSandboxOffset(deps.store);
    const now = deps.clock.now();
    return { now: Math.floor(now / 1000), real_now: Math.floor((now - offsetMs) / 1000), offset_seconds: Math.floor(offsetMs / 1000), offset: formatDuration(offsetMs) };
  };

  app.get('/pier/sandbox/clock', { schema: { tags: [TAG], summary: "Pier's sandbox clock" } }, async () => ok(await state()));

  app.post(
    '/pier/sandbox/clock/advance',
    {
      schema: {
        tags: [TAG],
        summary: 'Move the sandbox clock forward (`by`: 30d, 12h, 90m, 45s, 1d12h, or `seconds`)',
        body: Type.Object({
          by: Type.Optional(Type.String({ maxLength: 40 })),
          seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86_400 })),
        }),
      },
    },
    async (req) => {
      let ms: number;
      try {
        ms = req.body.seconds !== undefined ? req.body.seconds * 1000 : parseDuration(req.body.by ?? '');
      } catch (err) {
        throw new PierError('invalid_parameter', `by: ${(err as Error).message}`);
      }
      if (ms <= 0) throw new PierError('invalid_parameter', 'by: give a positive duration (e.g. 30d)');
      try {
        await advanceSandboxClock(req.deps.store, ms, req.deps.clock);
      } catch (err) {
        if (err instanceof RangeError) throw new PierError('invalid_parameter', `by: ${err.message}`);
        throw err;
      }
      return ok(await state());
    },
  );

  app.post('/pier/sandbox/clock/reset', { schema: { tags: [TAG], summary: 'Back to the real time' } }, async () => {
    await resetSandboxClock(deps.store, deps.clock);
    return ok(await state());
  });
}

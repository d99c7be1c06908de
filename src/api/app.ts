import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import qs from 'qs';
import { authenticateToken, rememberedToken, type AuthenticatedMerchant } from '../core/merchants/auth.js';
import type { Deps } from '../core/deps.js';
import type { PgSimulatorTools } from '../lib/simulator-tools.js';
import { RateLimitedError, type RateLimitRule } from '../core/merchants/rate-limit.js';
import { PierError, ERROR_KINDS, type Envelope, type ErrorKind } from './errors.js';
import { ClientGoneError, PaymentOutcomeUnknownError } from '../core/payments/errors.js';
import { STOPPING_MESSAGE } from '../core/errors.js';
import { coerceFormValues } from './form-coercion.js';
import { pierSchemaKeywords, openApiWithUtf8Extension } from './schemas.js';
import { V1_ENDPOINTS, V1_RETIRED_ENDPOINTS } from './v1-endpoints.js';
import { registerRoutes } from './routes/index.js';
import { consolePlugin } from '../console/plugin.js';
import { checkoutPlugin } from './checkout/index.js';
import { requestIdFrom } from '../lib/request-id.js';
import { addRequestPlumbing, registerOperationsRoutes } from '../operations/routes.js';
import { untrustedProxyHint } from './untrusted-proxy-hint.js';

declare module 'fastify' {
  interface FastifyRequest {
    merchant: AuthenticatedMerchant | null;
    /** the process's deps with this request's logger and id (src/api/request-deps.ts), set by the first hook */
    deps: Deps;
  }
  interface FastifyContextConfig {
    /** routes that need no access token (getToken, docs) */
    public?: boolean;
  }
}

export type PierApp = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;

export interface AppOptions {
  bodyLimit: number;
  publicUrl: string;
  /** the PGs' simulator tools, for the sandbox tools (console, demo, POST /pier/sandbox/vbank-deposit); simulators/registry.ts simulatorTools */
  simulatorTools?: readonly PgSimulatorTools[];
  /** bearer token for GET /metrics (config `metrics.token`) */
  metricsToken?: string;
  /** one of PIER_WORKERS' workers: every worker's counters, aggregated (operations/cluster-metrics.ts) */
  workerMetrics?: () => Promise<string>;
  /** config `trustProxy`: the reverse proxies whose X-Forwarded-* headers count (client IP, https) */
  trustProxy?: string;
  /** config `pgNoticeRateLimit`: posts one client address may send the PG notify route per window (api/checkout/notice-limits.ts) */
  pgNoticeRateLimit?: RateLimitRule;
  /** milliseconds on a monotonic clock, by which GET /ready reuses a recent run (tests; default performance.now; operations/routes.ts READY_REUSE_MS) */
  operationsClock?: () => number;
}

/**
 * qs as V1's clients write lists (`name[]=a&name[]=b`, repeated keys, `name[0]=a`). A list may be as
 * long as the parameters allow, so that one over a field's own limit is refused naming the field and
 * its limit (`merchant_uid must NOT have more than 1000 items`), not turned into an object and
 * refused as "no string or array" (decision 0081). Form bodies over the parameter limit are refused
 * (QS_FORM_OPTIONS) rather than cut short: a dropped `merchant_uid[]` would leave unschedule
 * revoking every schedule of the customer.
 */
const QS_OPTIONS = { depth: 5, arrayLimit: 2000, parameterLimit: 2000, allowDots: false } as const;
const QS_FORM_OPTIONS = { ...QS_OPTIONS, throwOnLimitExceeded: true } as const;

/**
 * The V1 API as a Fastify app. Tests drive it in-process with `app.inject`; main.ts listens.
 */
export async function buildApp(deps: Deps, opts: AppOptions): Promise<PierApp> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // only the configured proxies' X-Forwarded-Proto/-For count (https cookies, client IPs in logs)
    trustProxy: opts.trustProxy ? opts.trustProxy.split(',').map((s) => s.trim()).filter(Boolean) : false,
    // a caller's x-request-id (validated, bounded) or a fresh one; echoed back and in every log line
    requestIdHeader: false,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    bodyLimit: opts.bodyLimit,
    // Node would answer an HTTP/1.1 request without Host itself, with an empty 400; the hook below
    // refuses it with the envelope instead (decision 0094)
    http: { requireHostHeader: false },
    // while stopping, a request that still arrives (pipelined, or on a connection busy at the
    // signal) is answered by the hook below in V1's envelope, not by Fastify's own 503 body
    return503OnClosing: false,
    // V1 clients call `/payments/cancel/` and `/payments/findAll/{uid}/` (spec §1.1)
    routerOptions: {
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      maxParamLength: 500,
      querystringParser: (s) => qs.parse(s, QS_OPTIONS) as Record<string, unknown>,
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false }, plugins: [pierSchemaKeywords] },
    schemaErrorFormatter: (errors, dataVar) => validationError(errors, dataVar),
    // a request Node's HTTP parser refuses (oversized request line or headers, Transfer-Encoding
    // with Content-Length, bad chunking, not HTTP at all) never reaches Fastify's routing
    clientErrorHandler: clientError,
    // a bad %-escape or an over-long path segment is refused by the router before any hook runs
    frameworkErrors: (err, req, reply) => {
      const { status, body, detail } = toEnvelope(err, req);
      if (detail) (reply as FastifyReply).header(DETAIL_HEADER, detail);
      (reply as FastifyReply).status(status).send(body);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('merchant', null);
  const metrics = addRequestPlumbing(app, deps);
  // set by app.close() (SIGTERM) before the server closes: nothing new is taken from then on
  let stopping = false;
  app.addHook('preClose', (done) => {
    stopping = true;
    done();
  });
  app.addHook('onRequest', (_req, reply, done) => {
    if (!stopping) return done();
    reply.header('connection', 'close');
    done(new PierError('unavailable', STOPPING_MESSAGE, 'this Pier process is stopping: the request was not processed; send it again'));
  });
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused with 400, before the token is read
  app.addHook('onRequest', (req, reply, done) => {
    if (req.raw.httpVersion !== '1.1' || req.headers.host !== undefined) return done();
    reply.header('connection', 'close');
    done(new PierError('invalid_parameter', MALFORMED_HTTP, 'an HTTP/1.1 request needs a Host header'));
  });
  // Node answers these two itself when nobody listens: an Expect other than 100-continue with an
  // empty 417, a CONNECT by closing the connection without a word (decision 0094)
  app.server.on('checkExpectation', expectationFailed);
  app.server.on('connect', (_req, socket: Duplex) => endWithEnvelope(socket, 'method_not_allowed', '허용되지 않는 HTTP 메소드입니다: CONNECT'));
  // behind a reverse proxy nobody told Pier about, every buyer shares the proxy's address: say so once
  if (!opts.trustProxy) app.addHook('onRequest', untrustedProxyHint(deps.logger));

  // Only JSON and form bodies are V1 (spec §1.1): text/plain answers 415 like any other type.
  app.removeContentTypeParser('text/plain');

  // The official PHP client sends `Content-Type: application/json` on every request, a DELETE of a
  // billing key without a body too; an API route that reads no body (no body schema) takes an empty
  // one as none. Everything else is Fastify's own JSON parser (an empty body it refuses).
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const schema = req.routeOptions.schema as Record<string, unknown> | undefined;
    if (body === '' && schema && !schema.body) return done(null, undefined);
    jsonParser(req, body as string, done);
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, qs.parse(body as string, QS_FORM_OPTIONS));
    } catch (err) {
      // qs's "Parameter limit exceeded" / "Array limit exceeded": the request's fault, never a 500
      if (err instanceof RangeError) {
        return done(new PierError('invalid_parameter', '파라미터 형식이 올바르지 않습니다: body', `a form body of more than ${QS_OPTIONS.parameterLimit} parameters or list entries`), undefined);
      }
      done(err as Error, undefined);
    }
  });

  // Form bodies, query strings and path params carry strings; coerce them where the schema wants
  // numbers or booleans. JSON bodies too: V1 declares its fields as form data, and clients pass on
  // whatever the merchant gave them (`"amount": "3000"`), which V1 accepts (docs/decisions/0011).
  // Both hooks below are callback-style, not async: every request passes them, and an async hook
  // costs fastify a promise and a turn of the microtask queue each (docs/performance.md).
  app.addHook('preValidation', (req, _reply, done) => {
    try {
      // PostgreSQL cannot store U+0000 in text, and neither store keeps an unpaired UTF-16 surrogate
      // as sent (it has no UTF-8 form); refuse both everywhere so both stores behave alike
      for (const [where, value] of [['params', req.params], ['query', req.query], ['body', req.body]] as const) {
        const bad = unstorableField(value);
        if (bad !== null) throw new PierError('invalid_parameter', `파라미터 형식이 올바르지 않습니다: ${bad.field || where}`, UNSTORABLE[bad.why]);
      }
      const schema = req.routeOptions.schema as Record<string, unknown> | undefined;
      if (schema?.querystring) req.query = coerceFormValues(schema.querystring as never, req.query) as never;
      if (schema?.params) req.params = coerceFormValues(schema.params as never, req.params) as never;
      if (schema?.body) req.body = coerceFormValues(schema.body as never, req.body) as never;
    } catch (err) {
      return done(err as Error);
    }
    done();
  });

  app.addHook('onRequest', (req, _reply, done) => {
    if (req.routeOptions.config?.public || !req.routeOptions.url) return done();
    // a token this process remembers needs no database read, and so no promise
    const token = tokenOf(req);
    const remembered = token ? rememberedToken(deps, token) : undefined;
    if (remembered) {
      req.merchant = remembered;
      return done();
    }
    authenticate(req).then((merchant) => {
      req.merchant = merchant;
      done();
    }, done);
  });

  /** V1 answers every missing, unknown or expired token with 401 and the message `Unauthorized`. */
  async function authenticate(req: FastifyRequest): Promise<AuthenticatedMerchant> {
    const token = tokenOf(req);
    if (!token) throw new PierError('unauthorized', UNAUTHORIZED, 'send Authorization: Bearer <access_token> from POST /users/getToken');
    return authenticateToken(deps, token);
  }

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ClientGoneError) {
      // no one reads this answer; 499, as proxies log a client that closed its request
      req.log.info({ imp_uid: err.impUid }, 'client gone while the charge waited for the database: nothing recorded or charged');
      return reply.status(499).send({ code: -1, message: '요청한 클라이언트의 연결이 끊어져 결제를 진행하지 않았습니다.', response: null });
    }
    const { status, body, detail } = toEnvelope(err, req);
    // 501 is an answer, not a failure: a merchant calling a V1 path Pier lacks is worth a line, not a stack
    if (err instanceof PierError && err.kind === 'not_supported') req.log.info({ path: req.routeOptions.url ?? req.url.split('?')[0] }, 'V1 path not supported by Pier');
    else if (status >= 500) req.log.error({ err }, 'request failed');
    if (err instanceof RateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
    if (detail) reply.header(DETAIL_HEADER, detail);
    reply.status(status).send(body);
  });

  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0].replace(/\/+$/, '') || '/';
    const matches = [...V1_ENDPOINTS, ...V1_RETIRED_ENDPOINTS].filter((e) => pathMatches(e.path, path));
    if (matches.length === 0) throw new PierError('not_found', `존재하지 않는 API 경로입니다: ${req.method} ${path}`);
    if (!matches.some((e) => e.method === req.method)) throw new PierError('method_not_allowed', `허용되지 않는 HTTP 메소드입니다: ${req.method} ${path}`);
    // V1 checks the token before anything else, so an unimplemented path still answers 401 first
    await authenticate(req);
    throw new PierError('not_supported', `Pier는 아직 ${req.method} ${matches[0].path}를 지원하지 않습니다.`, 'not supported by Pier yet; see the compatibility table in the README');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Pier — PortOne (i\'mport) V1 compatible REST API',
        version: '0.1.0',
        description:
          'Every response is the V1 envelope `{code, message, response}`: `code` 0 is success. Authenticate with `POST /users/getToken`, then send `Authorization: Bearer <access_token>`.',
      },
      servers: [{ url: opts.publicUrl }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transformObject: (doc) => openApiWithUtf8Extension('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
  });
  // the docs are public; this hook must be in place before swagger-ui adds its routes
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config as object), public: true };
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  registerOperationsRoutes(app, deps, metrics, { metricsToken: opts.metricsToken, workerMetrics: opts.workerMetrics, clock: opts.operationsClock });
  await registerRoutes(app, deps, { simulatorTools: opts.simulatorTools });
  // the merchant console: its own session cookie and CSRF checks; its routes are public to the V1 token hook
  await app.register(consolePlugin, { prefix: '/console', deps, publicUrl: opts.publicUrl, simulatorTools: opts.simulatorTools });
  // the payment window: SDK, hosted checkout, PG return/notify, demo shop (public, not V1 paths)
  await app.register(checkoutPlugin, { deps, publicUrl: opts.publicUrl, simulatorTools: opts.simulatorTools, pgNoticeRateLimit: opts.pgNoticeRateLimit });
  return app;
}

/**
 * Answers a request the HTTP parser refused with the V1 envelope, then closes the connection
 * (the parser cannot tell where the next request would start). Nothing of the request is echoed.
 */
function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const kind: keyof typeof ERROR_KINDS =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'header_too_large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'invalid_parameter';
  const message =
    kind === 'header_too_large'
      ? '요청 줄 또는 헤더가 너무 깁니다. (request line or headers over 16 KB)'
      : kind === 'request_timeout'
        ? '요청이 제시간에 도착하지 않았습니다. (request timeout)'
        : MALFORMED_HTTP;
  endWithEnvelope(socket, kind, message);
}

const MALFORMED_HTTP = '요청 형식이 올바르지 않습니다. (malformed HTTP request)';

/** Writes V1's answer for `kind` straight to a socket no HTTP response object owns, and closes it. */
function endWithEnvelope(socket: Duplex, kind: ErrorKind, message: string): void {
  const { http, code } = ERROR_KINDS[kind];
  const body = JSON.stringify({ code, message, response: null } satisfies Envelope);
  socket.end(
    `HTTP/1.1 ${http} ${STATUS_CODES[http]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** An `Expect` other than `100-continue` (Node's 'checkExpectation'; the request never reaches Fastify). */
function expectationFailed(_req: unknown, res: ServerResponse): void {
  const { http, code } = ERROR_KINDS.expectation_failed;
  const body = JSON.stringify({ code, message: '지원하지 않는 Expect 헤더입니다.', response: null } satisfies Envelope);
  res.writeHead(http, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), [DETAIL_HEADER]: 'only Expect: 100-continue is supported' });
  res.end(body);
}

function tokenOf(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.trim()) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    return (m ? m[1] : auth).trim();
  }
  const legacy = req.headers['x-imptokenheader'];
  return typeof legacy === 'string' && legacy.trim() ? legacy.trim() : null;
}

const UNSTORABLE = { nul: 'must not contain a NUL character', surrogate: 'must not contain an unpaired UTF-16 surrogate' } as const;

/** The first string (value or key) of a parsed input that no store keeps as sent, with its path (`a.b.0`, '' for the input itself); null when there is none. */
function unstorableField(value: unknown, path = '', depth = 0): { field: string; why: keyof typeof UNSTORABLE } | null {
  if (typeof value === 'string') return unstorable(value, path);
  if (!value || typeof value !== 'object' || depth > 10) return null;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    const hit = unstorable(k, at) ?? unstorableField(v, at, depth + 1);
    if (hit !== null) return hit;
  }
  return null;
}

function unstorable(s: string, field: string): { field: string; why: keyof typeof UNSTORABLE } | null {
  if (s.includes('\u0000')) return { field, why: 'nul' };
  // well formed: no UTF-16 surrogate without its pair (a pair, an emoji, is one ordinary character)
  if (!s.isWellFormed()) return { field, why: 'surrogate' };
  return null;
}

function pathMatches(template: string, path: string): boolean {
  const re = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$');
  return re.test(path) || (template.endsWith('/{payment_status}') && pathMatches(template.slice(0, -'/{payment_status}'.length), path));
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * Fastify decorates the returned error (sets `code`, `validation`), so this returns a plain Error
 * whose message names the field; the error handler turns FST_ERR_VALIDATION into the envelope.
 */
function validationError(errors: AjvError[], dataVar: string): Error {
  return Object.assign(new Error(validationMessage(errors, dataVar)), { [DETAIL]: validationDetail(errors, dataVar) });
}

function validationMessage(errors: AjvError[], dataVar: string): string {
  const e = errors[0];
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'required') {
    const field = [path, String(e.params.missingProperty)].filter(Boolean).join('.');
    return `필수 파라미터가 누락되었습니다: ${field}`;
  }
  if (!path && dataVar === 'body') return '요청 본문은 JSON 객체 또는 form 형식이어야 합니다.';
  return `파라미터 형식이 올바르지 않습니다: ${path || dataVar}`;
}

/** The English reason of a schema error, for the detail header: `amount has the wrong type`. */
function validationDetail(errors: AjvError[], dataVar: string): string {
  const union = unionFailure(errors);
  if (typeof union === 'string') return `${fieldOf(errors[0], dataVar)} ${union}`;
  const e = union ?? errors[0];
  const field = fieldOf(e, dataVar);
  if (e.keyword === 'required') return `${[field === dataVar ? '' : field, String(e.params.missingProperty)].filter(Boolean).join('.')} is required`;
  let detail = e.message ?? 'is invalid';
  if (e.keyword === 'anyOf') detail = 'has the wrong type';
  if (e.keyword === 'pattern') detail = 'has the wrong format';
  if (e.keyword === 'enum' || (e.keyword === 'const' && e.params.allowedValue !== undefined)) detail = 'is not an allowed value';
  return `${field} ${detail}`;
}

function fieldOf(e: AjvError, dataVar: string): string {
  return e.instancePath.replace(/^\//, '').replace(/\//g, '.') || dataVar;
}

/**
 * What a failed union (`anyOf`: a string or a list of them, …) has to say, which its first error
 * does not: Ajv reports every branch's errors, the first branch's first, so a list with one bad
 * entry in unschedule's `merchant_uid` was told `merchant_uid must be string`. The branch that got
 * deepest into the value is the one the value was meant for, and its error names the entry
 * (`merchant_uid.1 must be string`); a list of too many is told so, not that it is no string. A
 * value of none of the branches' types is told all of them (`customer_uid must be string or null`).
 * Null when the first error says it already.
 */
function unionFailure(errors: AjvError[]): AjvError | string | null {
  const union = errors.find((e) => e.keyword === 'anyOf');
  if (!union) return null;
  const branches = errors.filter((e) => e !== union && (e.instancePath === union.instancePath || e.instancePath.startsWith(`${union.instancePath}/`)));
  const depth = (e: AjvError) => e.instancePath.split('/').length;
  const deepest = branches.reduce<AjvError | null>((best, e) => (best === null || depth(e) > depth(best) ? e : best), null);
  if (deepest && depth(deepest) > depth(union)) return deepest;
  // the branch of the value's type fails on something else (a list over maxItems, a string over maxLength)
  const ofItsType = branches.find((e) => !['type', 'const', 'enum'].includes(e.keyword));
  if (ofItsType) return ofItsType;
  const types = branches.map((e) => (e.keyword === 'type' ? String(e.params.type) : null));
  if (types.length > 1 && types.every((t) => t !== null)) return `must be ${[...new Set(types)].join(', ').replace(/, ([^,]*)$/, ' or $1')}`;
  return null;
}

/** V1's text for a missing, unknown or expired token; merchant code compares it for equality. */
export const UNAUTHORIZED = 'Unauthorized';

/**
 * `message` carries only V1's Korean text, which merchant code compares for equality; Pier's
 * English explanation, when it has one, travels in this response header instead.
 */
export const DETAIL_HEADER = 'x-pier-detail';
const DETAIL = Symbol('pier.detail');

/** V1's answer to an error of `kind`: the kind's HTTP status and envelope code (api/errors.ts), V1's message. */
function reply(kind: ErrorKind, message: string, detail?: string): { status: number; body: Envelope; detail?: string } {
  return { status: ERROR_KINDS[kind].http, body: { code: ERROR_KINDS[kind].code, message, response: null }, detail };
}

function toEnvelope(err: unknown, req: FastifyRequest): { status: number; body: Envelope; detail?: string } {
  if (err instanceof PierError) return reply(err.kind, err.message, err.detail);
  // in doubt, not refused: the same status as a refund whose answer was lost
  if (err instanceof PaymentOutcomeUnknownError) return reply('pg_unavailable', err.message, err.detail);
  const e = err as { code?: string; statusCode?: number; message?: string; [DETAIL]?: string };
  switch (e.code) {
    case 'FST_ERR_VALIDATION':
      return reply('invalid_parameter', e.message ?? '파라미터 형식이 올바르지 않습니다.', e[DETAIL]);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply('payload_too_large', '요청 본문이 너무 큽니다.', 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply('unsupported_media_type', '지원하지 않는 Content-Type입니다.', 'use application/json or application/x-www-form-urlencoded');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return reply('invalid_parameter', '요청 본문이 비어 있습니다.', 'empty JSON body');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return reply('invalid_parameter', 'JSON 형식이 올바르지 않습니다.', 'malformed JSON body');
    // Fastify's own text is English and quotes the whole segment back
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return reply('uri_too_long', '요청 경로가 너무 깁니다.', 'a path segment is longer than 500 characters');
  }
  if (e.statusCode === 400 || (err instanceof SyntaxError && /JSON/i.test(err.message))) {
    return reply('invalid_parameter', '요청 형식이 올바르지 않습니다.', asciiDetail(e.message));
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { code: 1, message: e.message ?? 'bad request', response: null } };
  }
  return reply('internal', `서버 내부 오류가 발생했습니다. (request id ${req.id})`);
}

/** A header value must be printable ASCII; anything else is dropped rather than risk a bad header. */
function asciiDetail(text: string | undefined): string | undefined {
  return text && /^[\x20-\x7e]{1,300}$/.test(text) ? text : undefined;
}

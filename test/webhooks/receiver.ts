import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { listenAgain, listenOn, type ListenAgainOptions } from '../child-process.js';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  path: string;
}

/**
 * A merchant's webhook endpoint on a loopback port, recording every request. `answer` decides the
 * status code of each (default 200). It can be stopped and started again on the same port, like a
 * server that goes down and comes back: Pier keeps its URL. Another socket may take the port while
 * it is down (child-process.ts listenAgain): its restart binds it once it is let go, or fails saying
 * the port stayed taken (after `SAME_PORT_WAIT_MS`, or `withinMs`), never hangs.
 */
export async function startReceiver(o: { port?: number; answer?: (r: Received, n: number) => number } = {}) {
  const requests: Received[] = [];
  let answer = o.answer ?? (() => 200);
  let server: Server | null = null;
  let port = o.port ?? 0;
  const listen = async (again: ListenAgainOptions = {}) => {
    const s = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const r = { headers: req.headers, body, path: req.url ?? '/' };
        requests.push(r);
        res.statusCode = answer(r, requests.length);
        res.end('ok');
      });
    });
    // port 0 the first time (nobody can take it); the port it had (or was given) ever after
    if (port === 0) await listenOn(s, 0);
    else await listenAgain('the webhook receiver', port, () => listenOn(s, port), again);
    server = s;
    port = (s.address() as { port: number }).port;
  };
  await listen();
  return {
    requests,
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}/webhook`;
    },
    setAnswer(fn: (r: Received, n: number) => number) {
      answer = fn;
    },
    async stop() {
      const s = server;
      server = null;
      if (s) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
    /** Listens again on its port (stop() first); `withinMs` bounds the wait for a port another socket took meanwhile. */
    restart: (again?: ListenAgainOptions) => listen(again),
  };
}

/** Verifies a received request with the `standardwebhooks` library, as a merchant's receiver would; returns the parsed body. */
export function verify(secret: string, r: Received): unknown {
  const headers: Record<string, string> = {};
  for (const k of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) headers[k] = String(r.headers[k] ?? '');
  new Webhook(secret).verify(r.body, headers, { jsonParse: false });
  return String(r.headers['content-type']).startsWith('application/x-www-form-urlencoded')
    ? Object.fromEntries(new URLSearchParams(r.body))
    : JSON.parse(r.body);
}

import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A webhook receiver that trickles one byte every `everyMs`, never finishing.
 * - `head` (default): the status line, then its headers a byte at a time, never ending them: the
 *   attempt has no status to decide on, so only the headers timeout or the total deadline ends it.
 * - `body`: answers 200 (the head and a first byte of the body) and trickles the body: every byte
 *   resets a read timeout, but the 200 has said it has the webhook (decision 0114).
 */
export async function startTrickleReceiver(everyMs = 100, trickle: 'head' | 'body' = 'head') {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let open = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    open++;
    req.resume();
    let write: () => void;
    if (trickle === 'body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      write = () => res.write('.');
    } else {
      // raw bytes on the socket: node:http writes a head only whole
      req.socket.write('HTTP/1.1 200 OK\r\nx-trickle: ');
      write = () => req.socket.write('.');
    }
    write();
    const t = setInterval(write, everyMs);
    timers.add(t);
    res.on('close', () => {
      open--;
      clearInterval(t);
      timers.delete(t);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get requests() {
      return requests;
    },
    /** connections still being trickled to */
    get open() {
      return open;
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Polls `cond` until it holds (or throws after `timeoutMs`): waiting on a condition, not a fixed sleep. */
export async function waitFor<T>(cond: () => Promise<T> | T, timeoutMs: number, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

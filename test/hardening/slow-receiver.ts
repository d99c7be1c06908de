import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A webhook receiver that answers 200 and then trickles its body one byte every `everyMs`, never
 * finishing: every byte resets a read timeout, so only a total deadline ends the attempt.
 */
export async function startTrickleReceiver(everyMs = 100) {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let open = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    open++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('.');
    const t = setInterval(() => res.write('.'), everyMs);
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

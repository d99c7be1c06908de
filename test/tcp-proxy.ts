/**
 * A TCP proxy in front of a server (PostgreSQL, in the database deadline tests) that can fail the
 * ways a network or a frozen server does:
 * - `freeze()`: cuts every open connection and holds new ones unanswered (a server that accepts
 *   connections and never answers);
 * - `stall()`: keeps the open connections but carries nothing more on them, as a half-open path
 *   after a failover does; new connections are carried as usual;
 * - `thaw()`: carries new connections again.
 * It also counts the connections it carries at once (`takePeak()`).
 */
import { connect, createServer, type Socket } from 'node:net';

export interface FaultyProxy {
  /** `target` with the proxy's host and port */
  url: string;
  freeze(): void;
  stall(): void;
  thaw(): void;
  /** connections accepted while frozen */
  held(): number;
  /** the most connections carried at once since the proxy started or since the last call */
  takePeak(): number;
  close(): Promise<void>;
}

export async function faultyProxy(target: string): Promise<FaultyProxy> {
  const to = new URL(target);
  const open = new Set<Socket>();
  const carried = new Set<{ client: Socket; upstream: Socket }>();
  let frozen = false;
  let held = 0;
  let peak = 0;
  const track = (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (frozen) {
      held++;
      return;
    }
    const upstream = connect(Number(to.port || 5432), to.hostname);
    track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
    const pair = { client, upstream };
    carried.add(pair);
    peak = Math.max(peak, carried.size);
    client.on('close', () => carried.delete(pair));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    freeze() {
      frozen = true;
      for (const s of open) s.destroy();
    },
    stall() {
      // neither end hears from the other again; both sockets stay open
      for (const { client, upstream } of carried) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
      carried.clear();
    },
    thaw() {
      frozen = false;
    },
    held: () => held,
    takePeak() {
      const seen = peak;
      peak = carried.size;
      return seen;
    },
    close: () => {
      for (const s of open) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

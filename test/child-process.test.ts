/**
 * The suite's mechanism for servers it starts on a port (child-process.ts, child-pier.ts): a wait
 * for a child's banner ends when the child exits, with its stderr; a start whose port another
 * process took before it bound it is made again on a new port (three starts at most), and no other
 * failure is; a server that must come back on the port it had waits, within a bound, for another
 * socket that took it to let it go, and fails saying so if it does not. The children here are tiny
 * `node -e` servers, and one real Pier (childPier) whose restart finds its port taken; the servers
 * that come back are the webhook receiver (webhooks/receiver.ts) and a Fastify app's server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { childPier } from './child-pier.js';
import { ChildExited, listenAgain, listenOn, onFreshPort, PORT_TAKEN_ATTEMPTS, PortStillTaken, startChild, type Child } from './child-process.js';
import { freshDatabase } from './harness.js';
import { startReceiver } from './webhooks/receiver.js';

/** A server on PORT that prints `listening on <port>` once it listens (and dies of EADDRINUSE when the port is taken). */
const TINY_SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1', function () { console.log('listening on ' + this.address().port) })";

const started: Child[] = [];
function tinyServer(port: number): Child {
  const c = startChild('tiny server', ['-e', TINY_SERVER], { cwd: process.cwd(), env: { ...process.env, PORT: String(port) } });
  started.push(c);
  return c;
}

/** A port this test holds, so that a child given it finds it taken. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}
const release = (s: Server) => new Promise<void>((r) => s.close(() => r()));

afterEach(async () => {
  for (const c of started.splice(0)) {
    if (c.running()) c.process.kill('SIGKILL');
    await c.ended;
  }
});

describe('startChild(…).waitFor', () => {
  it('ends the wait as soon as the child exits before its banner, with its exit and stderr', async () => {
    const c = startChild('a failing start', ['-e', "process.stderr.write('pier: cannot start: the disk is full\\n'); process.exit(3)"], { cwd: process.cwd(), env: process.env });
    started.push(c);
    // the wait's own bound is far beyond the test's: only the exit can end it in time
    const err = await c.waitFor(/never printed/, 3_600_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChildExited);
    expect(err).toMatchObject({ exit: { code: 3, signal: null }, stderr: 'pier: cannot start: the disk is full\n' });
    expect((err as Error).message).toContain('pier: cannot start: the disk is full');
  }, 60_000);

  it('resolves with the match once the child prints it, and keeps reading what it writes', async () => {
    const c = tinyServer(0);
    const m = await c.waitFor(/listening on (\d+)/);
    expect(c.running()).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${m[1]}/`)).text()).toBe('ok');
  });
});

describe('onFreshPort', () => {
  it('starts again on a new port when the port was taken before the child bound it', async () => {
    const held = await holdPort();
    try {
      const ports: number[] = [];
      const { port, child } = await onFreshPort(
        async (p) => {
          ports.push(p);
          const c = tinyServer(p);
          await c.waitFor(/listening on/);
          return { port: p, child: c };
        },
        { first: held.port },
      );
      expect(ports).toHaveLength(2);
      expect(ports[0]).toBe(held.port);
      expect(port).toBe(ports[1]);
      expect(port).not.toBe(held.port);
      expect(child.running()).toBe(true);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
    } finally {
      await release(held.server);
    }
  });

  it(`gives up after ${PORT_TAKEN_ATTEMPTS} starts that each found their port taken, with the last one's EADDRINUSE`, async () => {
    const held = await holdPort();
    try {
      let starts = 0;
      const err = await onFreshPort(async () => {
        starts++;
        await tinyServer(held.port).waitFor(/listening on/); // every start finds its port taken
      }).catch((e: unknown) => e);
      expect(starts).toBe(PORT_TAKEN_ATTEMPTS);
      expect(err).toBeInstanceOf(ChildExited);
      expect((err as ChildExited).stderr).toContain('EADDRINUSE');
    } finally {
      await release(held.server);
    }
  });

  it('does not start again for any other failure', async () => {
    let starts = 0;
    const err = await onFreshPort(async () => {
      starts++;
      const c = startChild('a failing start', ['-e', "process.stderr.write('pier: configuration error: PORT\\n'); process.exit(78)"], { cwd: process.cwd(), env: process.env });
      started.push(c);
      await c.waitFor(/listening on/);
    }).catch((e: unknown) => e);
    expect(starts).toBe(1);
    expect(err).toMatchObject({ exit: { code: 78 }, stderr: 'pier: configuration error: PORT\n' });
  });
});

describe('listenAgain: a server back on the port it had, which another socket took while it was down', () => {
  /** a port a server listened on and let go, as a server that went down leaves it */
  async function portOfAServerThatWentDown(server: Server): Promise<number> {
    await listenOn(server, 0);
    const port = (server.address() as { port: number }).port;
    await release(server);
    return port;
  }
  const answers = (port: number) =>
    new Promise<boolean>((done) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), done(true)));
      c.once('error', () => done(false));
    });

  it('binds it once the other socket lets it go', async () => {
    const server = createServer();
    const port = await portOfAServerThatWentDown(server);
    const holder = createServer();
    await listenOn(holder, port);
    const taken: string[] = [];
    await listenAgain('a server', port, () => listenOn(server, port), {
      // the holder lets go only once a bind found the port taken
      onTaken: (attempt, err) => {
        taken.push(`${attempt}: ${(err as NodeJS.ErrnoException).code}`);
        if (attempt === 1) void release(holder);
      },
    });
    try {
      expect(taken[0]).toBe('1: EADDRINUSE');
      expect((server.address() as { port: number }).port).toBe(port);
      expect(await answers(port)).toBe(true);
    } finally {
      await release(server);
    }
  });

  it('fails within its bound, naming the port, when the other socket keeps it', async () => {
    const server = createServer();
    const port = await portOfAServerThatWentDown(server);
    const holder = createServer();
    await listenOn(holder, port);
    try {
      const started = Date.now();
      const err = await listenAgain('a server', port, () => listenOn(server, port), { withinMs: 500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PortStillTaken);
      expect((err as Error).message).toContain(`a server could not listen on 127.0.0.1:${port} again`);
      expect((err as Error).message).toContain('EADDRINUSE');
      expect((err as PortStillTaken).attempts).toBeGreaterThan(1);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.listening).toBe(false);
    } finally {
      await release(holder);
    }
  });

  it('does not bind again for any other failure', async () => {
    let binds = 0;
    const err = await listenAgain('a server', 1, async () => {
      binds++;
      throw Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:1'), { code: 'EACCES' });
    }).catch((e: unknown) => e);
    expect(binds).toBe(1);
    expect(err).toMatchObject({ code: 'EACCES' });
  });

  it("brings a Fastify app's server back on its port (vbank-lifecycle.test.ts's Pier going down and up) once it is let go", async () => {
    const app = createTpaySimulator({ dbFile: ':memory:' });
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const port = Number(new URL(url).port);
      await new Promise<void>((r) => app.server.close(() => r()));
      const holder = createServer();
      await listenOn(holder, port);
      let taken = 0;
      await listenAgain('the simulator', port, () => listenOn(app.server, port), {
        onTaken: (attempt) => {
          taken = attempt;
          if (attempt === 1) void release(holder);
        },
      });
      expect(taken).toBeGreaterThanOrEqual(1);
      expect((await fetch(`${url}/__ledger`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  describe('the webhook receiver (webhooks/receiver.ts), stopped and started again', () => {
    it('comes back on the URL Pier keeps, once the socket that took its port lets it go', async () => {
      const receiver = await startReceiver();
      const { port, url } = receiver;
      await receiver.stop();
      const holder = createServer();
      await listenOn(holder, port);
      let taken = 0;
      await receiver.restart({
        onTaken: (attempt) => {
          taken = attempt;
          if (attempt === 1) void release(holder);
        },
      });
      try {
        expect(taken).toBeGreaterThanOrEqual(1);
        expect(receiver.url).toBe(url);
        expect((await fetch(url, { method: 'POST', body: 'hello' })).status).toBe(200);
        expect(receiver.requests.map((r) => r.body)).toEqual(['hello']);
      } finally {
        await receiver.stop();
      }
    }, 30_000);

    it('fails its restart with a clear message, within its bound, when another server keeps its port', async () => {
      const receiver = await startReceiver();
      const { port } = receiver;
      await receiver.stop();
      const holder = createServer();
      await listenOn(holder, port);
      try {
        const started = Date.now();
        const err = await receiver.restart({ withinMs: 1_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PortStillTaken);
        expect((err as Error).message).toContain(`the webhook receiver could not listen on 127.0.0.1:${port} again`);
        expect(Date.now() - started).toBeLessThan(10_000);
        // stopping it (an afterAll) still works
        await receiver.stop();
      } finally {
        await release(holder);
      }
    }, 30_000);
  });
});

describe('childPier', () => {
  let simulator: FastifyInstance | undefined;
  let simulatorUrl = '';
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let dataDir = '';
  const pier = childPier(() => ({ databaseUrl: db!.url, dataDir, simulatorUrl }));
  afterAll(async () => {
    await pier.kill('SIGKILL');
    await simulator?.close();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts on the port it had, and on a new one when another process took that port meanwhile', async () => {
    simulator = createTpaySimulator({ dbFile: ':memory:' });
    simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
    db = await freshDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'pier-child-'));

    await pier.start();
    const first = pier.url();
    expect((await fetch(`${first}/health`)).status).toBe(200);
    await pier.kill('SIGKILL');
    await pier.start();
    expect(pier.url()).toBe(first);
    expect((await fetch(`${first}/health`)).status).toBe(200);

    // killed again, and its port taken before it is back
    await pier.kill('SIGKILL');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(Number(new URL(first).port), '127.0.0.1', r));
    try {
      await pier.start();
      expect(pier.url()).not.toBe(first);
      const health = await fetch(`${pier.url()}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
    } finally {
      await release(holder);
    }
  }, 300_000);
});

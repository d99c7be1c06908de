/**
 * Answers a simulator holds back to play a frozen PG: the request was processed, its answer waits
 * until released, until `slowResponseMs` passes, or until the client gives up and disconnects.
 */
import type { FastifyReply } from 'fastify';

export class HeldAnswers {
  private readonly releases = new Set<() => void>();

  constructor(private readonly slowResponseMs: number) {}

  get count(): number {
    return this.releases.size;
  }

  /** Lets every held answer go now; returns how many there were. */
  releaseAll(): number {
    const n = this.releases.size;
    for (const release of [...this.releases]) release();
    return n;
  }

  /** Waits for a release, `slowResponseMs` or the client leaving. Resolves true if the client is still there. */
  hold(reply: FastifyReply): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (stillThere: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reply.raw.off('close', onClose);
        this.releases.delete(release);
        resolve(stillThere);
      };
      const onClose = () => finish(false);
      const release = () => finish(!reply.raw.destroyed);
      const timer = setTimeout(release, this.slowResponseMs);
      reply.raw.once('close', onClose);
      this.releases.add(release);
    });
  }
}

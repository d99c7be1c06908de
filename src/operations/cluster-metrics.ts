/**
 * One `/metrics` for all of PIER_WORKERS' workers (cluster.ts): whichever worker a scrape lands on
 * answers every worker's counters and histograms, summed, instead of its own share.
 *
 * prom-client's AggregatorRegistry does the collecting: the primary asks each worker for its
 * registry (as JSON), and aggregates by each metric's rule (sum, unless the metric says otherwise).
 * A worker serving a scrape asks the primary over the cluster's IPC channel and waits at most
 * CLUSTER_SCRAPE_MS; prom-client's own wait for the workers is 5 s.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'pier:cluster-metrics-request';
const ANSWER = 'pier:cluster-metrics-answer';
/** how long a worker waits for the primary's aggregate before answering with its own metrics */
export const CLUSTER_SCRAPE_MS = 6_000;

interface Request {
  type: typeof REQUEST;
  id: number;
}
interface Answer {
  type: typeof ANSWER;
  id: number;
  text?: string;
  error?: string;
}

/** In the primary: answers the workers' requests for the aggregate of every worker's registry. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: Partial<Request> | null) => {
    if (message?.type !== REQUEST || typeof message.id !== 'number') return;
    const id = message.id;
    const answer = (a: Omit<Answer, 'type' | 'id'>) => {
      // the asking worker may have died meanwhile
      if (worker.isConnected()) worker.send({ type: ANSWER, id, ...a } satisfies Answer);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (err: Error) => answer({ error: err.message }),
    );
  });
}

/**
 * In a worker: offers `registry` to the primary's aggregation, and returns how to read the
 * aggregate (rejects when the primary does not answer in time).
 */
export function clusterMetricsOf(registry: Registry): () => Promise<string> {
  // constructing one installs prom-client's answer to the primary's requests in this worker
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let nextId = 0;
  const waiting = new Map<number, { done: (text: string) => void; fail: (err: Error) => void }>();
  process.on('message', (message: Partial<Answer> | null) => {
    if (message?.type !== ANSWER || typeof message.id !== 'number') return;
    const w = waiting.get(message.id);
    if (!w) return;
    waiting.delete(message.id);
    if (typeof message.text === 'string') w.done(message.text);
    else w.fail(new Error(message.error ?? 'no metrics from the primary'));
  });
  return () =>
    new Promise<string>((done, fail) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        fail(new Error(`the primary did not answer with the workers' metrics within ${CLUSTER_SCRAPE_MS} ms`));
      }, CLUSTER_SCRAPE_MS);
      waiting.set(id, {
        done: (text) => {
          clearTimeout(timer);
          done(text);
        },
        fail: (err) => {
          clearTimeout(timer);
          fail(err);
        },
      });
      process.send!({ type: REQUEST, id } satisfies Request);
    });
}

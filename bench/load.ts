// The load: autocannon for JSON answers (with every latency kept at microsecond
// resolution, which autocannon's own histogram rounds to whole milliseconds), and a
// small undici-based generator for streams, which also times the first byte.
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { percentile } from './report.js';

export interface Target {
  /** Full URL of the chat completions endpoint. */
  url: string;
  headers: Record<string, string>;
  /** The first of `bodies`: what one-off requests (sanity check, memory checks) send. */
  body: string;
  /** The bodies the load cycles through, one request after the other. */
  bodies: readonly string[];
}

/** The next body of the target's cycle, shared by all connections of a run. */
function cycle(target: Target): () => string {
  let next = 0;
  return () => target.bodies[next++ % target.bodies.length] ?? target.body;
}

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  ttfbP50Ms?: number;
  ttfbP99Ms?: number;
  completed: number;
  failures: number;
}

/** Grows as needed; a plain array of 100k numbers would do too, at more GC cost in the generator. */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export function runAutocannon(target: Target, connections: number, durationSec: number): Promise<LoadResult> {
  const latencies = new Samples();
  const nextBody = cycle(target);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: target.headers,
        body: target.body,
        requests: [{ setupRequest: (request: object) => ({ ...request, body: nextBody() }) }],
        connections,
        pipelining: 1,
        duration: durationSec,
      },
      (err, result) => {
        if (err) return reject(err);
        const values = latencies.values();
        resolve({
          rps: values.length / result.duration,
          p50Ms: percentile(values, 50),
          p99Ms: percentile(values, 99),
          completed: values.length,
          failures: result.errors + result.timeouts + result.non2xx,
        });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}

/**
 * `connections` loops, each sending the request again as soon as its answer ended, for
 * `durationSec`. Times the first byte of the body (headers come with it) and the end.
 */
export async function runStreamLoad(target: Target, connections: number, durationSec: number): Promise<LoadResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections, pipelining: 1 });
  const total = new Samples();
  const firstByte = new Samples();
  let failures = 0;
  const started = performance.now();
  const deadline = started + durationSec * 1000;
  const nextBody = cycle(target);

  async function loop(): Promise<void> {
    while (performance.now() < deadline) {
      const sent = performance.now();
      let first = 0;
      try {
        const answer = await pool.request({
          path: url.pathname,
          method: 'POST',
          headers: target.headers,
          body: nextBody(),
        });
        for await (const _chunk of answer.body) {
          if (first === 0) first = performance.now();
        }
        if (answer.statusCode !== 200 || first === 0) {
          failures++;
          continue;
        }
      } catch {
        failures++;
        continue;
      }
      const ended = performance.now();
      firstByte.push(first - sent);
      total.push(ended - sent);
    }
  }

  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return {
    rps: total.length / elapsed,
    p50Ms: percentile(total.values(), 50),
    p99Ms: percentile(total.values(), 99),
    ttfbP50Ms: percentile(firstByte.values(), 50),
    ttfbP99Ms: percentile(firstByte.values(), 99),
    completed: total.length,
    failures,
  };
}

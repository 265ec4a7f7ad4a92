// The memory targets: 1,000 idle keep-alive client connections held by the gateway, and
// a 10 MB stream costing no more memory than a 10 KB one.
import { Pool } from 'undici';
import type { Target } from './load.js';
import type { Server } from './processes.js';
import type { CheckResult } from './report.js';

const round1 = (v: number) => Math.round(v * 10) / 10;

/** Sends one request on each of `count` connections and keeps them all open while reading RSS. */
export async function checkKeepAliveConnections(gateway: Server, target: Target, count: number): Promise<CheckResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, {
    connections: count,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    keepAliveMaxTimeout: 120_000,
  });
  const before = await gateway.rssMb();
  await gateway.resetPeak();
  let failures = 0;
  try {
    await Promise.all(
      Array.from({ length: count }, async () => {
        const answer = await pool.request({
          path: url.pathname,
          method: 'POST',
          headers: target.headers,
          body: target.body,
        });
        await answer.body.text();
        if (answer.statusCode !== 200) failures++;
      }),
    );
    // Let the gateway settle with every connection idle but open, then read.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const held = pool.stats.connected;
    const rss = await gateway.rssMb();
    const peak = await gateway.peakRssMb();
    const files = await gateway.openFiles();
    return {
      name: `${count} keep-alive connections`,
      target: 'gateway RSS < 200 MB',
      measured: `peak ${round1(peak)} MB, ${round1(rss)} MB while ${held} connections held`,
      pass: held >= count && failures === 0 ? peak < 200 : false,
      details: {
        rss_before_mb: round1(before),
        rss_held_mb: round1(rss),
        peak_rss_mb: round1(peak),
        connections_held: held,
        gateway_open_files: files,
        failures,
      },
    };
  } finally {
    await pool.destroy();
  }
}

/** Bytes of one streamed answer of `chunks` content chunks. */
async function streamBytes(pool: Pool, target: Target, path: string, chunks: number): Promise<number> {
  const answer = await pool.request({
    path,
    method: 'POST',
    headers: { ...target.headers, 'x-mock-chunks': String(chunks) },
    body: target.body,
  });
  let bytes = 0;
  for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
  if (answer.statusCode !== 200) throw new Error(`stream answered ${answer.statusCode}`);
  return bytes;
}

/**
 * Peak gateway RSS while `parallel` clients read streams of about 10 KB, then while they
 * read streams of about 10 MB (fast readers: the gateway relays as fast as it can).
 * `gateway` should be fresh, so what earlier load left in its heap does not hide growth.
 */
export async function checkStreamMemory(
  gateway: Server,
  target: Target,
  options: { parallel: number; largeBytes: number; warmup: number; smallRepeat: number; longer: boolean },
): Promise<CheckResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: options.parallel, pipelining: 1 });
  try {
    // Warm the gateway's code paths and heap with small streams first.
    for (let i = 0; i < options.warmup; i++) await streamBytes(pool, target, url.pathname, 50);
    const perChunk = (await streamBytes(pool, target, url.pathname, 1000)) / 1000;
    const smallChunks = Math.max(1, Math.round((10 * 1024) / perChunk));
    const largeChunks = Math.round(options.largeBytes / perChunk);

    const measure = async (chunks: number, repeat: number) => {
      await gateway.resetPeak();
      let bytes = 0;
      for (let r = 0; r < repeat; r++) {
        const sizes = await Promise.all(
          Array.from({ length: options.parallel }, () => streamBytes(pool, target, url.pathname, chunks)),
        );
        bytes = Math.max(bytes, ...sizes);
      }
      return { bytes, peak: await gateway.peakRssMb() };
    };
    // The small streams repeated (by default until they moved as many bytes as the large ones),
    // so both phases put the same allocation pressure on the gateway's garbage collector.
    const small = await measure(smallChunks, options.smallRepeat);
    const large = await measure(largeChunks, 1);
    // Four times longer again: growth with stream length shows here; a constant step (the
    // garbage collector sizing its young generation for the allocation rate) does not.
    const larger = options.longer ? await measure(largeChunks * 4, 1) : null;
    const growth = large.peak - small.peak;
    return {
      name: 'stream memory vs length',
      target: 'a 10 MB stream peaks no higher than a 10 KB one (within 5 MB)',
      measured: `peak ${round1(small.peak)} MB with ${options.smallRepeat} x ${options.parallel} x ${round1(small.bytes / 1024)} KB streams, ${round1(large.peak)} MB with ${options.parallel} x ${round1(large.bytes / 1024 / 1024)} MB (${growth >= 0 ? '+' : ''}${round1(growth)} MB)${larger ? `, ${round1(larger.peak)} MB with ${options.parallel} x ${round1(larger.bytes / 1024 / 1024)} MB` : ''}`,
      pass: growth <= 5,
      details: {
        parallel_streams: options.parallel,
        small_stream_repeats: options.smallRepeat,
        small_stream_bytes: small.bytes,
        large_stream_bytes: large.bytes,
        small_peak_rss_mb: round1(small.peak),
        large_peak_rss_mb: round1(large.peak),
        growth_mb: round1(growth),
        ...(larger && {
          larger_stream_bytes: larger.bytes,
          larger_peak_rss_mb: round1(larger.peak),
          growth_large_to_larger_mb: round1(larger.peak - large.peak),
        }),
      },
    };
  } finally {
    await pool.close();
  }
}

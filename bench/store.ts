// `npm run bench:store`: ingests generated records through the real log writer into a
// fresh SQLite store (rollups included, as in production), then times each stats endpoint
// and a filtered log page through the real admin API (Fastify inject) and prints the p50.
// BENCH_RECORDS overrides the record count (default 1,000,000).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { adminApi } from '../src/admin/index.js';
import { AutoReplyDirectory } from '../src/autoreplies/directory.js';
import { ConnectionDirectory } from '../src/connections/directory.js';
import { type LogRecord, OPERATIONS } from '../src/domain.js';
import { newRequestId } from '../src/exchange.js';
import { DEFAULT_POLICY } from '../src/policy-settings.js';
import { createSecretBox } from '../src/secrets/cipher.js';
import { createLogWriter } from '../src/store/log-writer.js';
import { openStore } from '../src/store/sql-store.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const SPAN_MS = 30 * 86_400_000;
const RUNS = 15;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'o3-mini', 'text-embedding-3-small', 'gpt-4.1', 'dall-e-3', 'whisper-1'];
const TOKEN = 'bench-admin-token-0123456789';

/** A deterministic pseudo-random sequence, so runs are comparable. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 0x1_0000_0000;
  };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'usage-panda-bench-store-'));
  const store = await openStore({ dataDir: dir });
  await store.migrate();
  const connections = await Promise.all(
    ['prod', 'staging', 'batch', 'research', 'support'].map((name, i) =>
      store.insertConnection({
        name,
        keyHash: `bench-${i}`,
        keyPrefix: `up-${i}`,
        enabled: true,
        policy: DEFAULT_POLICY,
        upstream: null,
        providerKeyEncrypted: null,
        managedBy: 'api',
      }),
    ),
  );

  const rand = random(42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const end = Date.now();
  const start = end - SPAN_MS;
  const step = SPAN_MS / RECORDS;
  const writer = createLogWriter(store, { maxQueue: 20_000 });

  console.log(`ingesting ${RECORDS.toLocaleString('en-US')} records through the log writer into SQLite…`);
  const began = performance.now();
  for (let i = 0; i < RECORDS; i++) {
    const ts = Math.floor(start + i * step);
    const connection = pick(connections);
    const failed = rand() < 0.03;
    const prompt = Math.floor(rand() * 2000);
    const completion = Math.floor(rand() * 800);
    const record: LogRecord = {
      id: newRequestId(ts),
      ts,
      connectionId: connection.id,
      connectionName: connection.name,
      endpoint: '/chat/completions',
      method: 'POST',
      operation: pick(OPERATIONS),
      model: pick(MODELS),
      stream: rand() < 0.5,
      status: failed ? pick([422, 429, 500, 502]) : 200,
      error: failed ? 'failed' : null,
      latencyMs: 50 + rand() * 2000,
      upstreamLatencyMs: 40 + rand() * 2000,
      promptTokens: prompt,
      completionTokens: completion,
      totalTokens: prompt + completion,
      cachedTokens: null,
      reasoningTokens: null,
      usageEstimated: false,
      costUsd: rand() < 0.01 ? null : (prompt * 0.15 + completion * 0.6) / 1e6,
      upstreamId: `chatcmpl-${i}`,
      organization: null,
      ip: '10.0.0.1',
      userAgent: 'OpenAI/JS 6.0',
      endUser: rand() < 0.8 ? `user-${Math.floor(rand() * 2000)}` : null,
      traceId: null,
      flags: rand() < 0.02 ? [{ type: 'wordlist_profanity', description: 'matched a word' }] : [],
      moderated: rand() < 0.05,
      provider: 'openai',
      requestBody: null,
      responseBody: null,
      attempts: [],
    };
    // The writer drops beyond its bound; the benchmark feeds it as fast as it writes.
    if (writer.stats.queued >= 10_000) await writer.drain();
    writer.enqueue(record);
  }
  await writer.drain();
  const seconds = (performance.now() - began) / 1000;
  const { written, dropped, failed } = writer.stats;
  console.log(
    `ingested ${written.toLocaleString('en-US')} records in ${seconds.toFixed(1)} s: ${Math.round(written / seconds).toLocaleString('en-US')} records/s (dropped ${dropped}, failed ${failed})`,
  );

  const app = Fastify();
  await app.register(
    (scope) =>
      adminApi(scope, {
        store,
        connections: new ConnectionDirectory(store, createSecretBox('bench-secret-0123456789abcdef')),
        autoReplies: new AutoReplyDirectory(store),
        adminToken: { generated: null, verify: (token) => token === TOKEN },
      }),
    { prefix: '/api' },
  );
  const month = `from=${start}&to=${end}`;
  const prod = connections[0]?.id ?? '';
  const queries: Array<[string, string]> = [
    ['summary (last 24 h)', '/api/stats/summary'],
    ['summary (30 days)', `/api/stats/summary?${month}`],
    [
      'summary (30 days, one connection, Europe/Berlin)',
      `/api/stats/summary?${month}&connection=${prod}&tz=Europe/Berlin`,
    ],
    [
      'timeseries (48 h, hourly, by operation)',
      `/api/stats/timeseries?from=${end - 48 * 3_600_000}&to=${end}&interval=hour&split=operation`,
    ],
    ['timeseries (30 days, daily, by model)', `/api/stats/timeseries?${month}&interval=day&split=model`],
    ['timeseries (30 days, daily, Asia/Kolkata)', `/api/stats/timeseries?${month}&interval=day&tz=Asia/Kolkata`],
    ['models (30 days)', `/api/stats/models?${month}`],
    ['users (30 days, top 50 by cost)', `/api/stats/users?${month}&sort=cost`],
    ['users (last 24 h, top 50 by errors)', '/api/stats/users?sort=errors'],
    ['log page (connection + user filter)', `/api/logs?connection=${prod}&user=user-7&limit=50`],
    ['log page (errors, 30 days)', `/api/logs?error=true&${month}&limit=50`],
  ];
  console.log(`\np50 of ${RUNS} runs each (after one warm-up):`);
  for (const [name, url] of queries) {
    const times: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const t0 = performance.now();
      const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
      const elapsed = performance.now() - t0;
      if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}: ${response.body}`);
      if (run > 0) times.push(elapsed);
    }
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length / 2)] ?? Number.NaN;
    console.log(`  ${name.padEnd(52)} ${p50.toFixed(1).padStart(8)} ms`);
  }
  await app.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
}

await main();

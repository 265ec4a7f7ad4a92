// `npm run bench:store [-- --records N --engine sqlite|postgres --runs R]`: fills a fresh
// store with N generated records over 90 days (50 connections, 100,000 end users, each a
// user of one connection, 20 models, each serving one operation from one provider, 5 %
// flagged, 2 % errors) through the store's batch insert (rollups included, as in
// production), builds the end users' windows, measures what the log writer ingests per
// second on top (as its worker does: on PostgreSQL two batches at a time), then times every
// query the dashboard, the stats API and the log pages make — for 24 h, 7 d, 30 d and 90 d —
// through the real admin API (Fastify inject), and writes p50 / p99 and the issue's targets
// to bench/results/store-latest.json (and store-<engine>-latest.json).
// `--keep` leaves the filled store in place and prints how to time its queries again with
// `--reuse <directory or schema>` (no load, no ingest: for reading plans and trying queries);
// `--only <text>` times only the queries whose name holds it.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { adminApi } from '../src/admin/index.js';
import { AutoReplyDirectory } from '../src/autoreplies/directory.js';
import { ConnectionDirectory } from '../src/connections/directory.js';
import { type LogRecord, OPERATIONS } from '../src/domain.js';
import { newRequestId } from '../src/exchange.js';
import { DEFAULT_POLICY } from '../src/policy-settings.js';
import { createSecretBox } from '../src/secrets/cipher.js';
import { createLogWriter } from '../src/store/log-writer.js';
import { openStore, type SqlStore } from '../src/store/sql-store.js';
import type { Store } from '../src/store/store.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '10000000' },
    engine: { type: 'string', default: 'sqlite' },
    runs: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    reuse: { type: 'string' },
    only: { type: 'string' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const RECORDS = Number(args.records);
const RUNS = Number(args.runs);
const ENGINE = args.engine;
if (ENGINE !== 'sqlite' && ENGINE !== 'postgres') throw new Error('--engine: sqlite or postgres');
if (!Number.isInteger(RECORDS) || RECORDS < 1) throw new Error('--records: a positive whole number');

const DAY = 86_400_000;
const SPAN_MS = 90 * DAY;
const CONNECTIONS = 50;
const USERS = 100_000;
const MODELS = Array.from({ length: 20 }, (_, i) => `model-${i}`);
const PROVIDERS = ['openai', 'anthropic', 'gemini', 'azure', 'bedrock'];
const BATCH = 5_000;
/** Records written through the log writer (queue, batches, rollups) for the ingest rate. */
const WRITER_RECORDS = Math.min(200_000, Math.ceil(RECORDS / 5));
const TOKEN = 'bench-admin-token-0123456789';
const TARGET = { p50: 150, p99: 500, ingestPerSec: 20_000 };

/** A deterministic pseudo-random sequence, so runs are comparable. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 0x1_0000_0000;
  };
}

/** The store to fill (or with `--reuse`, the one filled before), its location, and how to remove it. */
async function openBenchStore(): Promise<{ store: Store; location: string; cleanup(): Promise<void> }> {
  const reuse = args.reuse;
  if (ENGINE === 'sqlite') {
    const dir = reuse ?? (await mkdtemp(join(tmpdir(), 'usage-panda-bench-store-')));
    const store = await openStore({ dataDir: dir });
    await store.migrate();
    return { store, location: dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  if (reuse !== undefined && !/^bench_store_[0-9a-f]{8}$/.test(reuse))
    throw new Error('--reuse: a schema the bench printed (bench_store_…)');
  const schema = reuse ?? `bench_store_${randomBytes(4).toString('hex')}`;
  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: args['database-url'] });
    await client.connect();
    await client.query(text);
    await client.end();
  };
  if (reuse === undefined) await admin(`create schema ${schema}`);
  const store = await openStore({ databaseUrl: args['database-url'], dataDir: '.', schema });
  await store.migrate();
  return { store, location: schema, cleanup: () => admin(`drop schema if exists ${schema} cascade`) };
}

/**
 * Records as an application's traffic has them: an end user is a user of one application
 * (connection), and a model serves one operation from one provider.
 */
function recordMaker(connections: { id: string; name: string }[], seed: number) {
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  return (ts: number, i: number): LogRecord => {
    const user = Math.floor(rand() * USERS);
    const connection = connections[user % connections.length] as { id: string; name: string };
    const model = Math.floor(rand() * MODELS.length);
    const failed = rand() < 0.02;
    const flagged = rand() < 0.05;
    const prompt = Math.floor(rand() * 2000);
    const completion = Math.floor(rand() * 800);
    return {
      id: newRequestId(ts),
      ts,
      connectionId: connection.id,
      connectionName: connection.name,
      endpoint: '/chat/completions',
      method: 'POST',
      operation: OPERATIONS[model % OPERATIONS.length] ?? 'chat',
      model: MODELS[model] ?? null,
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
      costUsd: (prompt * 0.15 + completion * 0.6) / 1e6,
      upstreamId: `chatcmpl-${i}`,
      organization: null,
      ip: '10.0.0.1',
      userAgent: 'OpenAI/JS 6.0',
      endUser: `user-${user}`,
      traceId: null,
      flags: flagged ? [{ type: 'policy_wordlists', description: 'matched a word' }] : [],
      moderated: false,
      provider: PROVIDERS[model % PROVIDERS.length] ?? 'openai',
      requestBody: null,
      responseBody: null,
      attempts: [],
    };
  };
}

interface Load {
  bulkPerSec: number;
  ingestPerSec: number;
  windowsBuildMs: number;
  windowsRollMs: number;
}

/** Fills the store: connections, the bulk of the records, the windows, the rest through the log writer. */
async function load(store: Store, connections: { id: string; name: string }[], end: number): Promise<Load> {
  const start = end - SPAN_MS;
  const make = recordMaker(connections, 42);

  console.log(`loading ${RECORDS.toLocaleString('en-US')} records over 90 days into ${ENGINE}…`);
  const bulkRecords = RECORDS - WRITER_RECORDS;
  let began = performance.now();
  // As the log worker writes: on PostgreSQL two batches at a time.
  const inFlight = ENGINE === 'postgres' ? 2 : 1;
  for (let i = 0; i < bulkRecords; i += BATCH * inFlight) {
    const writes = [];
    for (let k = i; k < Math.min(i + BATCH * inFlight, bulkRecords); k += BATCH) {
      const batch: LogRecord[] = [];
      for (let j = k; j < Math.min(k + BATCH, bulkRecords); j++)
        batch.push(make(start + Math.floor((j * SPAN_MS) / RECORDS), j));
      writes.push(store.insertLogs(batch));
    }
    await Promise.all(writes);
    if (i % 500_000 === 0 && i > 0) console.log(`  ${i.toLocaleString('en-US')}…`);
  }
  const bulkPerSec = Math.round(bulkRecords / ((performance.now() - began) / 1000));
  console.log(`bulk load: ${bulkPerSec.toLocaleString('en-US')} records/s`);
  // The end users' windows, as the log worker builds them on a store's first start.
  began = performance.now();
  await store.rollUserWindows(start + Math.floor((bulkRecords * SPAN_MS) / RECORDS));
  const windowsBuildMs = Math.round(performance.now() - began);
  console.log(`end users' windows built in ${windowsBuildMs.toLocaleString('en-US')} ms`);

  // The last records arrive as the gateway sends them: through the log writer's queue and batches.
  const writer = createLogWriter(store, { maxQueue: 20_000, concurrency: inFlight });
  began = performance.now();
  for (let j = bulkRecords; j < RECORDS; j++) {
    // As a busy gateway hands records over: the queue never runs dry, nor over its bound.
    while (writer.stats.queued >= 15_000) await new Promise((resolve) => setTimeout(resolve, 1));
    writer.enqueue(make(start + Math.floor((j * SPAN_MS) / RECORDS), j));
  }
  await writer.drain();
  const ingestPerSec = Math.round(WRITER_RECORDS / ((performance.now() - began) / 1000));
  console.log(`log writer ingest: ${ingestPerSec.toLocaleString('en-US')} records/s (dropped ${writer.stats.dropped})`);
  await writer.close();
  // Slid to the end of the records, as the log worker does every minute.
  began = performance.now();
  await store.rollUserWindows(end);
  const windowsRollMs = Math.round(performance.now() - began);
  console.log(`end users' windows slid to the end in ${windowsRollMs.toLocaleString('en-US')} ms`);
  // A store that has been running has its planner statistics, and the windows the dead rows of
  // their rolls vacuumed (autovacuum); a fresh load has neither yet.
  if (ENGINE === 'postgres') {
    await sql`vacuum log_user_windows`.execute((store as SqlStore).db);
    await sql`analyze`.execute((store as SqlStore).db);
  }
  return { bulkPerSec, ingestPerSec, windowsBuildMs, windowsRollMs };
}

async function main() {
  const { store, location, cleanup } = await openBenchStore();
  let connections: { id: string; name: string }[] = [];
  // Half past an hour: the windows' start then lies half an hour from the ranges', the most
  // their users' top lists correct (the windows' end is within the minute, as the log worker rolls them).
  let end = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 29.5 * 60_000;
  let loaded: Load | null = null;
  let records = RECORDS;
  if (args.reuse === undefined) {
    for (let i = 0; i < CONNECTIONS; i++) {
      connections.push(
        await store.insertConnection({
          name: `connection-${i}`,
          keyHash: `bench-${i}`,
          keyPrefix: `up-${i}`,
          enabled: true,
          policy: DEFAULT_POLICY,
          upstream: null,
          providerKeyEncrypted: null,
          managedBy: 'api',
        }),
      );
    }
    loaded = await load(store, connections, end);
  } else {
    // The records end where the load ended: just after the last one.
    const byNumber = (c: { name: string }) => Number(c.name.replace('connection-', ''));
    connections = (await store.listConnections()).sort((a, b) => byNumber(a) - byNumber(b));
    const { rows } = await sql<{
      last: number | string | null;
      records: number | string;
    }>`select max(ts) as last, count(*) as records from logs`.execute((store as SqlStore).db);
    end = Number(rows[0]?.last ?? end) + 1;
    records = Number(rows[0]?.records ?? 0);
    // As the log worker would (a rebuild when an upgrade changed them).
    await store.rollUserWindows(end);
  }

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

  const one = connections[7]?.id ?? '';
  const ranges: Array<[string, number]> = [
    ['24h', DAY],
    ['7d', 7 * DAY],
    ['30d', 30 * DAY],
    ['90d', 90 * DAY],
  ];
  const queries: Array<{ name: string; range: string; url: string }> = [];
  for (const [range, length] of ranges) {
    const span = `from=${end - length}&to=${end}`;
    const interval = length <= 7 * DAY ? 'hour' : 'day';
    const add = (name: string, path: string) =>
      queries.push({ name, range, url: `${path}${path.includes('?') ? '&' : '?'}${span}` });
    add('summary', '/api/stats/summary');
    add('summary, one connection, Europe/Berlin', `/api/stats/summary?connection=${one}&tz=Europe/Berlin`);
    add(`time series by model (${interval})`, `/api/stats/timeseries?interval=${interval}&split=model`);
    add(`costs by operation (${interval})`, `/api/stats/timeseries?interval=${interval}&split=operation`);
    add(`costs by connection (${interval})`, `/api/stats/timeseries?interval=${interval}&split=connection`);
    add('models', '/api/stats/models');
    add('providers', '/api/stats/providers');
    add('users, top by cost', '/api/stats/users?sort=cost');
    add('users, top by errors', '/api/stats/users?sort=errors');
    add('users, one connection', `/api/stats/users?connection=${one}`);
    add('logs page', '/api/logs?limit=50');
    add('logs page, connection', `/api/logs?connection=${one}&limit=50`);
    add('logs page, user', '/api/logs?user=user-4242&limit=50');
    add('logs page, model', '/api/logs?model=model-3&limit=50');
    add('logs page, operation', '/api/logs?operation=embedding&limit=50');
    add('logs page, provider', '/api/logs?provider=gemini&limit=50');
    add('logs page, flag', '/api/logs?flag=policy_wordlists&limit=50');
    add('logs page, errors', '/api/logs?error=true&limit=50');
    add('alerts', '/api/alerts');
    add('alerts, one connection', `/api/alerts?connection=${one}`);
  }

  const results: Array<{ name: string; range: string; p50_ms: number; p99_ms: number }> = [];
  console.log(`\n${RUNS} runs each (after one warm-up):   p50 ms   p99 ms`);
  for (const query of queries) {
    if (args.only !== undefined && !query.name.includes(args.only)) continue;
    const times: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const t0 = performance.now();
      const response = await app.inject({
        method: 'GET',
        url: query.url,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const elapsed = performance.now() - t0;
      if (response.statusCode !== 200)
        throw new Error(`${query.url} answered ${response.statusCode}: ${response.body}`);
      if (run > 0) times.push(elapsed);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) =>
      Math.round((times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)] ?? 0) * 10) / 10;
    const result = { name: query.name, range: query.range, p50_ms: at(0.5), p99_ms: at(0.99) };
    results.push(result);
    console.log(
      `  ${`${query.name} (${query.range})`.padEnd(48)} ${result.p50_ms.toFixed(1).padStart(8)} ${result.p99_ms.toFixed(1).padStart(8)}`,
    );
  }
  await app.close();
  await store.close();
  if (args.keep || args.reuse !== undefined) console.log(`\nkept: --engine ${ENGINE} --reuse ${location}`);
  else await cleanup();

  const targets = [
    ...(loaded
      ? [
          {
            name: `ingest through the log writer >= ${TARGET.ingestPerSec} records/s`,
            pass: loaded.ingestPerSec >= TARGET.ingestPerSec,
          },
        ]
      : []),
    ...results.flatMap((r) => [
      { name: `${r.name} (${r.range}) p50 < ${TARGET.p50} ms`, pass: r.p50_ms < TARGET.p50 },
      { name: `${r.name} (${r.range}) p99 < ${TARGET.p99} ms`, pass: r.p99_ms < TARGET.p99 },
    ]),
  ];
  const report = {
    engine: ENGINE,
    records,
    // Null when the store was reused: nothing loaded.
    bulkPerSec: loaded?.bulkPerSec ?? null,
    ingestPerSec: loaded?.ingestPerSec ?? null,
    windowsBuildMs: loaded?.windowsBuildMs ?? null,
    windowsRollMs: loaded?.windowsRollMs ?? null,
    queries: results,
    targets,
  };
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(new URL('store-latest.json', dir), text);
  await writeFile(new URL(`store-${ENGINE}-latest.json`, dir), text);
  const failing = targets.filter((t) => !t.pass);
  console.log(`\ntargets: ${targets.length - failing.length} of ${targets.length} met`);
  for (const t of failing) console.log(`  not met: ${t.name}`);
}

await main();

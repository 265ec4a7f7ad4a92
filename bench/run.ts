// `npm run bench`: the gateway's overhead measured side by side with a bare pass-through,
// in interleaved rounds on loopback, printed as one table and written to
// bench/results/latest.json. `--quick` is a smoke check under a minute; `--profile`
// instead records a CPU profile of the gateway under the no-policy load.
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkKeepAliveConnections, checkStreamMemory } from './checks.js';
import { type LoadResult, runAutocannon, runStreamLoad, type Target } from './load.js';
import {
  ensureBuilt,
  type GatewayServer,
  ROOT,
  type Server,
  startBareProxy,
  startGateway,
  startMock,
  startRecordingFloor,
} from './processes.js';
import { profileGateway } from './profile.js';
import {
  type BenchResult,
  buildRows,
  combineRounds,
  formatTable,
  type LoadSettings,
  type Measured,
  type Measurement,
  type RowName,
  rowTargets,
  writeResult,
} from './report.js';
import { CHAT_REQUEST, LIMITS_POLICY, REDACT_POLICY, STREAM_CHUNKS, TYPICAL_POLICY, targets } from './targets.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    /** With --profile: the typical-policy load instead of the no-policy one. */
    typical: { type: 'boolean', default: false },
    /** With --profile: the streamed answer (with --typical: the typical policy's stream). */
    stream: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'one-connection': { type: 'string' },
    'skip-checks': { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'latest.json') },
  },
});

const positive = (value: string | undefined, fallback: number, name: string) => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} expects a positive number, got ${value}`);
  return n;
};

const load: LoadSettings = {
  tool: 'autocannon (JSON rows); undici pool loop (stream rows)',
  connections: positive(args.connections, 16, 'connections'),
  pipelining: 1,
  durationSec: positive(args.duration, args.quick ? 2 : 10, 'duration'),
  oneConnectionSec: positive(args['one-connection'], args.quick ? 0.75 : 4, 'one-connection'),
  warmupSec: positive(args.warmup, args.quick ? 0.5 : 3, 'warmup'),
  rounds: positive(args.rounds, args.quick ? 1 : 3, 'rounds'),
  requestBytes: Buffer.byteLength(JSON.stringify(CHAT_REQUEST)),
  streamChunks: STREAM_CHUNKS,
  quick: args.quick,
};

interface Run {
  name: RowName;
  server: Server;
  target: Target;
  stream: boolean;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** One request to each target before any load, so a broken setup fails loudly instead of measuring errors. */
async function sanityCheck(run: Run): Promise<void> {
  const response = await fetch(run.target.url, { method: 'POST', headers: run.target.headers, body: run.target.body });
  const text = await response.text();
  if (response.status !== 200)
    throw new Error(`${run.name}: expected 200, got ${response.status}: ${text.slice(0, 300)}`);
  if (run.stream ? !text.includes('data: [DONE]') : !text.includes('"chat.completion"')) {
    throw new Error(`${run.name}: unexpected answer: ${text.slice(0, 300)}`);
  }
}

function drive(run: Run, connections: number, durationSec: number): Promise<LoadResult> {
  return run.stream
    ? runStreamLoad(run.target, connections, durationSec)
    : runAutocannon(run.target, connections, durationSec);
}

/** The load, then the same request from one connection (the per-request cost without queueing). */
async function measure(run: Run, durationSec: number, oneConnectionSec: number): Promise<Measurement> {
  await run.server.resetPeak();
  const cpuBefore = await run.server.cpuMs();
  const mainBefore = await run.server.cpuMainMs();
  const loaded = await drive(run, load.connections, durationSec);
  const perRequest = (ms: number) => (ms * 1000) / Math.max(1, loaded.completed);
  const cpuUsPerRequest = perRequest((await run.server.cpuMs()) - cpuBefore);
  const cpuUsPerRequestMain = perRequest((await run.server.cpuMainMs()) - mainBefore);
  const rssMb = await run.server.peakRssMb();
  if (oneConnectionSec === 0) return { ...loaded, rssMb, cpuUsPerRequest, cpuUsPerRequestMain };
  const single = await drive(run, 1, oneConnectionSec);
  return {
    ...loaded,
    rssMb,
    cpuUsPerRequest,
    cpuUsPerRequestMain,
    failures: loaded.failures + single.failures,
    oneConnection: { p50Ms: single.p50Ms, ttfbP50Ms: single.ttfbP50Ms },
  };
}

function machine() {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    memoryMb: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${platform()} ${release()}`,
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

async function createConnections(gateway: GatewayServer) {
  const noPolicy = await gateway.createConnection('bench-no-policy', {});
  if (!noPolicy.ok) throw new Error(`creating the no-policy connection failed: ${noPolicy.status} ${noPolicy.message}`);
  const typical = await gateway.createConnection('bench-typical', TYPICAL_POLICY);
  if (!typical.ok && typical.status !== 400) {
    throw new Error(`creating the typical connection failed: ${typical.status} ${typical.message}`);
  }
  const redact = typical.ok ? await gateway.createConnection('bench-redact', REDACT_POLICY) : null;
  if (redact && !redact.ok)
    throw new Error(`creating the redact connection failed: ${redact.status} ${redact.message}`);
  return {
    noPolicy: noPolicy.key,
    typical: typical.ok ? typical.key : null,
    typicalRefusal: typical.ok ? null : typical.message,
    redact: redact?.ok ? redact.key : null,
  };
}

async function bench(): Promise<void> {
  const started = performance.now();
  await ensureBuilt(log);
  const servers: Server[] = [];
  try {
    const mock = await startMock();
    servers.push(mock);
    const bare = await startBareProxy(mock.origin);
    servers.push(bare);
    const floor = await startRecordingFloor(mock.origin);
    servers.push(floor);
    const gateway = await startGateway(`${mock.origin}/v1`);
    servers.push(gateway);
    const keys = await createConnections(gateway);
    const t = targets(mock, bare, gateway, keys, floor);

    const notes: Partial<Record<RowName, string>> = {};
    const skipped: Measured = {};
    if (!keys.typical) {
      const why = `policy settings not available (admin API answered 400: ${keys.typicalRefusal})`;
      skipped['gateway-typical'] = { skipped: why };
      skipped['gateway-redact-stream'] = { skipped: why };
      notes['gateway-stream'] = 'typical policy not available on this build: measured with no policy';
    } else {
      notes['gateway-typical'] = `policy ${JSON.stringify(TYPICAL_POLICY)}`;
      notes['gateway-stream'] = 'typical policy';
      notes['gateway-redact-stream'] =
        `typical policy, response wordlists ${JSON.stringify(REDACT_POLICY.responseWordlists)}`;
    }

    // Limits and budgets, counted in the gateway's memory and in Redis (REDIS_URL, else the local one).
    const limitRuns: Run[] = [];
    const limitsKey = await gateway.createConnection('bench-limits', LIMITS_POLICY);
    if (limitsKey.ok) {
      limitRuns.push({
        name: 'gateway-limits',
        server: gateway,
        target: t.limitsOn(gateway, limitsKey.key),
        stream: false,
      });
      notes['gateway-limits'] = 'typical policy + 1 request limit per user + 1 connection budget, in-process state';
      const redisGateway = await startGateway(`${mock.origin}/v1`, {
        redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      });
      servers.push(redisGateway);
      const redisKey = await redisGateway.createConnection('bench-limits', LIMITS_POLICY);
      if (redisKey.ok) {
        const target = t.limitsOn(redisGateway, redisKey.key);
        limitRuns.push({ name: 'gateway-limits-redis', server: redisGateway, target, stream: false });
        notes['gateway-limits-redis'] = 'the same, counted in Redis (one Lua script per request)';
      }
    } else {
      skipped['gateway-limits'] = { skipped: `limits not available (${limitsKey.message})` };
      skipped['gateway-limits-redis'] = { skipped: `limits not available (${limitsKey.message})` };
    }

    const runs: Run[] = [
      { name: 'direct', server: mock, target: t.direct, stream: false },
      { name: 'bare', server: bare, target: t.bare, stream: false },
      { name: 'gateway-no-policy', server: gateway, target: t.noPolicy, stream: false },
      ...(t.typical ? [{ name: 'gateway-typical' as const, server: gateway, target: t.typical, stream: false }] : []),
      ...limitRuns,
      { name: 'bare-stream', server: bare, target: t.bareStream, stream: true },
      { name: 'gateway-stream', server: gateway, target: t.gatewayStream, stream: true },
      ...(t.redactStream
        ? [{ name: 'gateway-redact-stream' as const, server: gateway, target: t.redactStream, stream: true }]
        : []),
      { name: 'recording-floor', server: floor, target: t.floor, stream: false },
    ];
    for (const run of runs) await sanityCheck(run);

    log(`warming up ${runs.length} targets, ${load.warmupSec} s each`);
    for (const run of runs) await measure(run, load.warmupSec, 0);

    const rounds = new Map<RowName, Measurement[]>();
    for (let r = 0; r < load.rounds; r++) {
      // Each round starts one row later, so no row always runs first (or right after the heaviest).
      const order = runs.map((_, i) => runs[(i + r) % runs.length] as Run);
      for (const run of order) {
        const m = await measure(run, load.durationSec, load.oneConnectionSec);
        log(
          `round ${r + 1}/${load.rounds} ${run.name.padEnd(21)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50Ms.toFixed(3)} ms  p99 ${m.p99Ms.toFixed(3)} ms  rss ${m.rssMb.toFixed(1)} MB  cpu ${m.cpuUsPerRequest?.toFixed(0)} us/req (main ${m.cpuUsPerRequestMain?.toFixed(0)})  1c p50 ${m.oneConnection?.p50Ms.toFixed(3)} ms${m.failures ? `  failures ${m.failures}` : ''}`,
        );
        rounds.set(run.name, [...(rounds.get(run.name) ?? []), m]);
      }
    }
    const measured: Measured = { ...skipped };
    for (const [name, list] of rounds) measured[name] = combineRounds(list);
    const rows = buildRows(measured, notes);
    const checks = rowTargets(rows);

    if (!args['skip-checks']) {
      log('checking 1,000 keep-alive connections');
      checks.push(await checkKeepAliveConnections(gateway, t.noPolicy, 1000));
      // A fresh gateway, so the heap left by the load above does not hide growth (--quick reuses the one above).
      log(`checking stream memory: 10 KB vs 10 MB streams${args.quick ? '' : ' on a fresh gateway'}`);
      const fresh = args.quick ? gateway : await startGateway(`${mock.origin}/v1`);
      if (fresh !== gateway) servers.push(fresh);
      const freshTargets = fresh === gateway ? t : targets(mock, bare, fresh, await createConnections(fresh));
      checks.push(
        await checkStreamMemory(fresh, freshTargets.gatewayStream, {
          parallel: 4,
          largeBytes: 10 * 1024 * 1024,
          warmup: args.quick ? 10 : 100,
          smallRepeat: args.quick ? 100 : 1000,
          longer: !args.quick,
        }),
      );
    }

    const result: BenchResult = { machine: machine(), load, rows, checks, at: new Date().toISOString() };
    process.stdout.write(`${formatTable(result)}\n`);
    await writeResult(args.out, result);
    log(`\nwritten to ${args.out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    for (const server of servers.reverse()) await server.stop();
  }
}

async function profile(): Promise<void> {
  await ensureBuilt(log);
  const mock = await startMock();
  try {
    const summary = await profileGateway({
      mock,
      connections: load.connections,
      durationSec: load.durationSec,
      warmupSec: load.warmupSec,
      stream: args.stream,
      makeTarget: (gateway, key) => {
        const all = targets(mock, mock, gateway, { noPolicy: key, typical: key });
        if (args.stream) return all.gatewayStream;
        return args.typical && all.typical ? all.typical : all.noPolicy;
      },
      createKey: async (gateway) => {
        const keys = await createConnections(gateway);
        if (!args.typical) return keys.noPolicy;
        if (!keys.typical) throw new Error('this build refuses the typical policy: nothing to profile');
        return keys.typical;
      },
    });
    process.stdout.write(`${summary}\n`);
  } finally {
    await mock.stop();
  }
}

(args.profile ? profile() : bench()).catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

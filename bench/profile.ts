// `npm run bench -- --profile`: the gateway under the no-policy load with `node --cpu-prof`,
// and a summary of where its CPU time went: by function (self and inclusive) and by area
// (our code, each dependency, Node internals, GC, idle).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAutocannon, runStreamLoad, type Target } from './load.js';
import { type GatewayServer, ROOT, type Server, startGateway } from './processes.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  let path = url.replace(/^file:\/\//, '');
  if (path.startsWith(ROOT)) path = path.slice(ROOT.length);
  const nm = path.lastIndexOf('node_modules/');
  return nm === -1 ? path : path.slice(nm + 'node_modules/'.length);
}

/** Which part of the process a frame belongs to: our code, a package, Node itself, or the VM. */
export function areaOf(frame: CallFrame): string {
  const name = frame.functionName;
  if (frame.url === '') {
    if (name === '(idle)' || name === '(garbage collector)' || name === '(program)') return name;
    return '(native)';
  }
  if (frame.url.startsWith('node:')) return 'node internals';
  const path = shortUrl(frame.url);
  if (path.startsWith('dist/') || path.startsWith('src/')) return path.replace(/\.(js|ts)$/, '');
  if (frame.url.includes('node_modules/')) {
    const parts = path.split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? path);
  }
  return path;
}

const keyOf = (frame: CallFrame) =>
  `${frame.functionName || '(anonymous)'}${frame.url ? ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`;

export interface ProfileSummary {
  totalMs: number;
  /** ms of self time per area, biggest first. */
  areas: [string, number][];
  selfTop: [string, number][];
  /** Inclusive time of our own functions (dist/src), biggest first. */
  ownInclusive: [string, number][];
}

export function summariseProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node from the sample timestamps: each sample owns the interval to the next one.
  const selfMs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const delta = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta);
  }
  const totalMs = [...selfMs.values()].reduce((a, b) => a + b, 0);

  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    areas.set(areaOf(frame), (areas.get(areaOf(frame)) ?? 0) + ms);
    self.set(keyOf(frame), (self.get(keyOf(frame)) ?? 0) + ms);
  }

  // Inclusive time of our functions, counting a recursive function once per stack.
  const inclusive = new Map<string, number>();
  const root = profile.nodes[0];
  const visit = (node: ProfileNode, onStack: Set<string>): number => {
    let total = selfMs.get(node.id) ?? 0;
    const key = keyOf(node.callFrame);
    const own = /^(dist|src)\//.test(shortUrl(node.callFrame.url)) && !onStack.has(key);
    if (own) onStack.add(key);
    for (const child of node.children ?? []) total += visit(byId.get(child) as ProfileNode, onStack);
    if (own) {
      onStack.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + total);
    }
    return total;
  };
  if (root) visit(root, new Set());

  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs,
    areas: sorted(areas),
    selfTop: sorted(self).slice(0, top),
    ownInclusive: sorted(inclusive).slice(0, top),
  };
}

export function formatProfile(summary: ProfileSummary): string {
  const pct = (ms: number) => `${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)} %`;
  const lines = (rows: [string, number][]) => rows.map(([name, ms]) => `  ${pct(ms)}  ${name}`);
  const busy = summary.totalMs - (summary.areas.find(([a]) => a === '(idle)')?.[1] ?? 0);
  return [
    `profiled ${(summary.totalMs / 1000).toFixed(1)} s, of which busy ${(busy / 1000).toFixed(1)} s (${pct(busy).trim()})`,
    '',
    'self time by area:',
    ...lines(summary.areas.slice(0, 20)),
    '',
    'self time by function:',
    ...lines(summary.selfTop),
    '',
    'inclusive time of our own functions:',
    ...lines(summary.ownInclusive),
  ].join('\n');
}

export interface ProfileOptions {
  mock: Server;
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** The target answers with a stream (the undici loop instead of autocannon). */
  stream?: boolean;
  createKey(gateway: GatewayServer): Promise<string>;
  makeTarget(gateway: GatewayServer, key: string): Target;
}

/** Runs the no-policy load against a gateway started with --cpu-prof and summarises its profile. */
export async function profileGateway(options: ProfileOptions): Promise<string> {
  const dir = join(ROOT, 'bench', 'results', 'profiles');
  await mkdir(dir, { recursive: true });
  const before = new Set(await readdir(dir));
  const gateway = await startGateway(`${options.mock.origin}/v1`, {
    nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir],
  });
  let load: Awaited<ReturnType<typeof runAutocannon>>;
  const drive = options.stream ? runStreamLoad : runAutocannon;
  try {
    const target = options.makeTarget(gateway, await options.createKey(gateway));
    await drive(target, options.connections, options.warmupSec);
    load = await drive(target, options.connections, options.durationSec);
  } finally {
    // The profile is written when the gateway exits.
    await gateway.stop();
  }
  const written = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  if (written.length === 0) throw new Error(`the gateway wrote no .cpuprofile into ${dir}`);
  // Each thread writes its own profile (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile): the main thread's is thread 0.
  const file = join(dir, (written.find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)) ?? written.sort()[0]) as string);
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  return [
    `load: ${options.connections} connections, ${options.durationSec} s after ${options.warmupSec} s warm-up: ` +
      `${load.rps.toFixed(0)} req/s, p50 ${load.p50Ms.toFixed(3)} ms, p99 ${load.p99Ms.toFixed(3)} ms`,
    `profile: ${file} (open in Chrome DevTools or speedscope; warm-up included)`,
    '',
    formatProfile(summariseProfile(profile)),
  ].join('\n');
}

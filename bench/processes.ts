// The servers under test, each in a child process of its own so that the load generator
// never shares their event loop, and the memory each one uses can be read from /proc.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const BARE_PROXY = join(ROOT, 'bench', 'bare-proxy.ts');

/** The newest modification time of the files below `dir`, in ms. */
async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when src/ changed since the last build, so the gateway measured is the code in the tree. */
export async function ensureBuilt(log: (line: string) => void): Promise<void> {
  const built = await stat(CLI).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  if (built >= (await newestMtime(join(ROOT, 'src')))) return;
  log('src/ is newer than dist/: building');
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
}

export interface Server {
  name: string;
  pid: number;
  /** Base URL without a path, e.g. http://127.0.0.1:41234 */
  origin: string;
  /** Peak RSS in MB since the last reset (VmHWM). */
  peakRssMb(): Promise<number>;
  /** Current RSS in MB (VmRSS). */
  rssMb(): Promise<number>;
  /** Starts a new peak: the kernel sets VmHWM back to the current RSS. */
  resetPeak(): Promise<void>;
  /** Open file descriptors (sockets included). */
  openFiles(): Promise<number>;
  /** CPU time used so far, user and system, all threads, in ms (10 ms resolution). */
  cpuMs(): Promise<number>;
  /** The same, of the main thread only (the one that runs the event loop serving requests). */
  cpuMainMs(): Promise<number>;
  stop(): Promise<void>;
}

/** Clock ticks per second of /proc/<pid>/stat's times; 100 on every Linux build Node supports. */
const CLOCK_TICKS = 100;

/**
 * From /proc/<pid>/stat: all threads; from /proc/<pid>/task/<pid>/stat: the main thread alone (its thread id is
 * the process id). Read from outside, this works on any Node version (process.threadCpuUsage needs Node 23.9, and
 * process.cpuUsage in a worker counts the whole process on Node 20).
 */
async function cpuMsOf(pid: number, mainThreadOnly = false): Promise<number> {
  const line = await readFile(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = line.slice(line.lastIndexOf(') ') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

async function statusField(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/**
 * Spawns `node args…`, waits for a line matching `ready` on its stdout (the listening
 * banner) and returns what the banner's first capture group says: the origin.
 */
async function startChild(name: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Server> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    // Only the start is needed (the banner, or why it failed); later logs are dropped.
    if (output.length < 64 * 1024) output += chunk.toString('utf8');
  };
  child.stderr?.on('data', keep);
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s:\n${output}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      keep(chunk);
      const match = ready.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
    });
  });
  // After the banner, stdout is drained and discarded so a chatty child never blocks on a full pipe.
  child.stdout?.resume();
  const pid = child.pid as number;
  return {
    name,
    pid,
    origin,
    peakRssMb: () => statusField(pid, 'VmHWM'),
    rssMb: () => statusField(pid, 'VmRSS'),
    resetPeak: () => writeFile(`/proc/${pid}/clear_refs`, '5'),
    openFiles: async () => (await readdir(`/proc/${pid}/fd`)).length,
    cpuMs: () => cpuMsOf(pid),
    cpuMainMs: () => cpuMsOf(pid, true),
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export function startMock(): Promise<Server> {
  return startChild(
    'mock upstream',
    [CLI, 'mock-upstream', '--port', '0'],
    process.env,
    /listening on (http:\/\/\S+?)\/v1/,
  );
}

export function startBareProxy(upstreamOrigin: string): Promise<Server> {
  return startChild(
    'bare proxy',
    ['--import', 'tsx', BARE_PROXY, upstreamOrigin],
    process.env,
    /listening on (http:\/\/\S+)/,
  );
}

/** Starts a server on a new temporary data dir, which is removed when the server stops. */
async function withDataDir(prefix: string, start: (dataDir: string) => Promise<Server>): Promise<Server> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  let server: Server;
  try {
    server = await start(dataDir);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The bare proxy that also parses and records every request (`--record`, see bare-proxy.ts). */
export function startRecordingFloor(upstreamOrigin: string): Promise<Server> {
  return withDataDir('usage-panda-bench-floor-', (dataDir) =>
    startChild(
      'recording floor',
      ['--import', 'tsx', BARE_PROXY, upstreamOrigin, '--record', dataDir],
      process.env,
      /listening on (http:\/\/\S+)/,
    ),
  );
}

export interface GatewayServer extends Server {
  adminToken: string;
  /** Creates a connection through the admin API: its key, or the error status and message. */
  createConnection(
    name: string,
    policy: Record<string, unknown>,
  ): Promise<{ ok: true; key: string } | { ok: false; status: number; message: string }>;
}

export interface GatewayOptions {
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Shares limits and budgets in this Redis (`--redis-url`). */
  redisUrl?: string;
}

/** The built gateway (`dist/cli.js start`) with a temporary data dir, removed on stop. */
export async function startGateway(upstream: string, options: GatewayOptions = {}): Promise<GatewayServer> {
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, USAGE_PANDA_ADMIN_TOKEN: adminToken };
  delete env.OPENAI_API_KEY;
  delete env.USAGE_PANDA_API_KEY;
  const server = await withDataDir('usage-panda-bench-', (dataDir) =>
    startChild(
      'gateway',
      [
        ...(options.nodeFlags ?? []),
        CLI,
        'start',
        '--port',
        '0',
        '--data',
        dataDir,
        '--upstream',
        upstream,
        ...(options.redisUrl ? ['--redis-url', options.redisUrl] : []),
      ],
      env,
      /listening on (http:\/\/\S+)/,
    ),
  );
  return {
    ...server,
    adminToken,
    async createConnection(name, policy) {
      const response = await fetch(`${server.origin}/api/connections`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, policy }),
      });
      const json = (await response.json()) as { key?: string; error?: { message?: string } };
      if (response.status === 201 && json.key) return { ok: true, key: json.key };
      return { ok: false, status: response.status, message: json.error?.message ?? JSON.stringify(json) };
    },
  };
}

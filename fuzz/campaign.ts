// A fuzzing campaign against a real gateway process: starts `usage-panda start --mock-upstream` on a
// fresh data dir, sets up connections (one plain, one with every content policy on), sends generated
// requests over raw sockets and reports the answers by status, every 5xx, crashes and peak RSS.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { type Area, type Credentials, type FuzzRequest, fuzzRequest, requestHead } from './requests.js';

export interface CampaignOptions {
  requests: number;
  seed: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** How long one request may take before it counts as unanswered. */
  answerTimeoutMs: number;
  /** Areas left out of the generated requests. */
  exclude?: readonly Area[];
  /** Called every 1,000 requests with the figures so far. */
  progress?: (report: Readonly<CampaignReport>) => void;
}

export interface Failure {
  family: string;
  status: number | string;
  request: string;
  answer: string;
}

export interface CampaignReport {
  requests: number;
  seed: number;
  /**
   * Answers by status code, plus `no-answer` (closed without a status line), `timeout`,
   * `client-closed` (a body cut short on purpose) and `refused` (nothing listening any more).
   */
  byStatus: Record<string, number>;
  /** Requests per generator family. */
  byFamily: Record<string, number>;
  serverErrors: number;
  /** How often each error message was answered (its first 80 characters), to see what the fuzz reached. */
  byMessage: Record<string, number>;
  /** The first 5xx answers (and unanswered complete requests), for reproduction. */
  failures: Failure[];
  /** The gateway process exited (or stopped accepting connections) during the run. */
  crashed: boolean;
  crashOutput: string;
  /** Peak resident set size of the gateway process (VmHWM), in MB; null where /proc is missing. */
  peakRssMb: number | null;
  seconds: number;
}

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const KEEP_FAILURES = 30;

interface Target {
  child: ChildProcess;
  url: URL;
  creds: Credentials;
  output: () => string;
  exited: () => boolean;
  stop(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), 'usage-panda-fuzz-'));
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', USAGE_PANDA_ADMIN_TOKEN: adminToken };
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'start', '--port', '0', '--data', dataDir, '--mock-upstream'],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  let exited = false;
  child.stdout?.on('data', (d) => (output = (output + d).slice(-20_000)));
  child.stderr?.on('data', (d) => (output = (output + d).slice(-20_000)));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.on('exit', () => (exited = true));
  const url = await new Promise<URL>((resolve, reject) => {
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve(new URL(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`the gateway exited with ${code} before listening:\n${output}`)));
  });

  const admin = async (path: string, body: unknown) => {
    const response = await fetch(new URL(path, url), {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`setting up ${path} answered ${response.status}`);
    return (await response.json()) as { id: string; key: string };
  };
  const plain = await admin('/api/connections', { name: 'fuzz-plain' });
  const strict = await admin('/api/connections', {
    name: 'fuzz-strict',
    policy: {
      allowHeaderOverrides: false,
      enforceUserIds: true,
      maxTokens: 100,
      maxPromptChars: 2000,
      blockedModels: ['dall-e-3'],
      requestWordlists: { dan: 'block', profanity: 'redact', custom: 'audit' },
      responseWordlists: { profanity: 'redact', custom: 'block' },
      customWordlist: ['lorem', 'Echo'],
      promptReflection: 'redact',
      logRequestBody: true,
      logResponseBody: true,
    },
  });
  await admin('/api/autoreplies', { type: 'chat', request: 'hello', response: 'hi there' });

  return {
    child,
    url,
    creds: { proxyKeys: [plain.key, strict.key], adminToken, connectionIds: [plain.id, strict.id] },
    output: () => output,
    exited: () => exited,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await closed;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

// `client-closed`: the fuzzer sent less body than it announced and went away, so no answer is due.
// `closed-while-sending`: the gateway answered before the whole body was sent and closed the connection.
type Outcome = {
  status: number | 'no-answer' | 'timeout' | 'refused' | 'client-closed' | 'closed-while-sending';
  answer: string;
};

/** Resolves when the socket wants more data or has closed. */
const drained = (socket: Socket) =>
  new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });

/** Sends one request over its own socket and reads the final status line (skipping 1xx). */
function send(target: URL, request: FuzzRequest, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.hostname, port: Number(target.port) });
    let received = Buffer.alloc(0);
    let status: number | null = null;
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ status: 'timeout', answer: received.toString('latin1', 0, 2000) }),
      timeoutMs,
    );
    let sending = true;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish({ status: 'refused', answer: err.message });
      // The gateway answered early (e.g. 413, 401) and closed while the body was still being written.
      else if (sending && status === null) finish({ status: 'closed-while-sending', answer: err.code ?? err.message });
      // A reset after the answer began is the gateway closing a connection it will not read further.
      else
        finish({
          status: status ?? 'no-answer',
          answer: `${err.code ?? err.message} ${received.toString('latin1', 0, 2000)}`,
        });
    });
    socket.on('connect', async () => {
      socket.write(requestHead(request, target.host));
      for (const chunk of request.body) {
        if (socket.destroyed) return;
        if (!socket.write(chunk)) await drained(socket);
      }
      sending = false;
      // A body shorter than announced would keep the gateway waiting: the client goes away, as one would.
      if (request.truncated && !socket.destroyed) socket.end();
    });
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      while (status === null) {
        const text = received.toString('latin1');
        const match = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
        if (!match?.[1]) break;
        const code = Number(match[1]);
        if (code >= 200 || code === 101) {
          status = code;
          break;
        }
        // An interim answer (100 Continue): skip its head and look for the final one.
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) break;
        received = received.subarray(end + 4);
      }
      // Enough of the answer is read to report it; the rest does not matter.
      if (status !== null && (status < 500 || received.length > 4000)) {
        finish({ status, answer: received.toString('utf8', 0, 4000) });
      }
    });
    socket.on('close', () => {
      finish({
        status: status ?? (request.truncated ? 'client-closed' : 'no-answer'),
        answer: received.toString('utf8', 0, 4000),
      });
    });
  });
}

/** A request as text for the report: the head, and the body cut to its first few hundred bytes. */
function describe(request: FuzzRequest, host: string): string {
  const head = requestHead(request, host).toString('latin1');
  const size = request.body.reduce((n, b) => n + b.length, 0);
  const start = Buffer.concat(request.body.slice(0, 3)).toString('latin1', 0, 300);
  return `${head}${start}${size > 300 ? `… (${size} bytes)` : ''}`;
}

async function peakRssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null);
  const kb = status && /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Math.round(Number(kb) / 1024) : null;
}

/** Runs the campaign: `requests` generated from `seed`, `concurrency` at a time, against a fresh gateway. */
export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const started = performance.now();
  const target = await startTarget();
  const arbitrary = fuzzRequest(target.creds, options.exclude);
  const report: CampaignReport = {
    requests: 0,
    seed: options.seed,
    byStatus: {},
    byFamily: {},
    serverErrors: 0,
    byMessage: {},
    failures: [],
    crashed: false,
    crashOutput: '',
    peakRssMb: null,
    seconds: 0,
  };
  let peak: number | null = null;
  try {
    // Generated a batch at a time from one seed each, so a run of any size holds few requests in memory.
    const BATCH = 200;
    let batchIndex = 0;
    let queue: FuzzRequest[] = [];
    const next = (): FuzzRequest | undefined => {
      if (report.requests >= options.requests || report.crashed) return undefined;
      if (queue.length === 0) {
        const size = Math.min(BATCH, options.requests - report.requests);
        queue = fc.sample(arbitrary, { numRuns: size, seed: options.seed + batchIndex++ });
      }
      report.requests++;
      if (report.requests % 1000 === 0) options.progress?.(report);
      return queue.shift();
    };
    const worker = async () => {
      for (let request = next(); request; request = next()) {
        report.byFamily[request.family] = (report.byFamily[request.family] ?? 0) + 1;
        const outcome = await send(target.url, request, options.answerTimeoutMs);
        const key = String(outcome.status);
        report.byStatus[key] = (report.byStatus[key] ?? 0) + 1;
        if (outcome.status === 'refused' || target.exited()) {
          report.crashed = true;
        }
        const message = /"message":"((?:[^"\\]|\\.){0,80})/.exec(outcome.answer)?.[1];
        if (message !== undefined) report.byMessage[message] = (report.byMessage[message] ?? 0) + 1;
        const serverError = typeof outcome.status === 'number' && outcome.status >= 500;
        if (serverError) report.serverErrors++;
        if (
          (serverError || outcome.status === 'no-answer' || outcome.status === 'timeout') &&
          report.failures.length < KEEP_FAILURES
        ) {
          report.failures.push({
            family: request.family,
            status: outcome.status,
            request: describe(request, target.url.host),
            answer: outcome.answer,
          });
        }
        if (report.requests % 500 === 0) {
          peak = (await peakRssMb(target.child.pid)) ?? peak;
          report.peakRssMb = peak;
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    // The gateway must still answer after the run: a process that hangs is as broken as one that died.
    const health = await fetch(new URL('/healthz', target.url)).catch(() => null);
    if (!health?.ok) report.crashed = true;
    peak = (await peakRssMb(target.child.pid)) ?? peak;
  } finally {
    if (target.exited()) report.crashed = true;
    if (report.crashed) report.crashOutput = target.output().slice(-5000);
    await target.stop();
  }
  report.peakRssMb = peak;
  report.seconds = Math.round((performance.now() - started) / 100) / 10;
  return report;
}

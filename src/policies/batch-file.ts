// Batch files: a file uploaded with `purpose=batch` is JSONL of requests that a model will
// read later, out of the gateway's sight. Each line's `body` passes the request phase now,
// as a request to the line's `url` would; the first line refused is named in the 422, and
// lines a policy redacts are rewritten in the file that goes upstream.
import { badRequest, policyBlocked } from '../errors.js';
import { Exchange } from '../exchange.js';
import type { PolicySettings } from '../policy-settings.js';
import { isObject, type Json } from '../providers/openai/json.js';
import { readTarget } from '../providers/openai/target.js';
import { runRequestPhase } from './pipeline.js';
import type { PolicyContext } from './policy.js';
import { hasContentPolicy } from './uninspected-endpoints.js';

interface BatchLine {
  /** The whole line: custom_id and the rest, for writing it back with a new body. */
  json: Json;
  method: string;
  url: string;
  body: Json;
}

function readLine(text: string, number: number): BatchLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest(`batch file line ${number} is not valid JSON`);
  }
  if (
    !isObject(value) ||
    typeof value.method !== 'string' ||
    typeof value.url !== 'string' ||
    !isObject(value.body) ||
    Array.isArray(value.body)
  ) {
    throw badRequest(`batch file line ${number} is not a batch request (needs "method", "url" and an object "body")`);
  }
  return { json: value, method: value.method, url: value.url, body: value.body };
}

/** The line as an exchange of its own, read as the proxy reads a JSON request. */
function lineExchange(parent: Exchange, line: BatchLine, number: number, settings: PolicySettings): Exchange {
  const target = readTarget(line.url);
  if (!target.ok) throw badRequest(`batch file line ${number}: ${target.reason}`);
  const ex = new Exchange(line.method.toUpperCase(), target.path, target.query, parent.headers, parent.ip);
  ex.connection = parent.connection;
  ex.settings = settings;
  ex.body = { kind: 'json', raw: Buffer.from(JSON.stringify(line.body)), json: line.body };
  ex.model = ex.field('model') ?? null;
  ex.endUser = ex.field('user') || ex.field('safety_identifier') || null;
  ex.stream = line.body.stream === true;
  return ex;
}

/** Passes every line of an uploaded batch file through the request phase; throws the 422 of the first refused. */
export async function inspectBatchFile(ex: Exchange, settings: PolicySettings, ctx: PolicyContext): Promise<void> {
  if (ex.endpoint !== 'files' || ex.body.kind !== 'multipart' || ex.field('purpose') !== 'batch') return;
  const files = ex.body.files;
  if (!files || !hasContentPolicy(settings)) return;
  // OpenAI reads the part named `file`; any other file part is checked as well, for servers that read it.
  for (const name of Object.keys(files)) await inspectFile(ex, settings, ctx, files, name);
}

async function inspectFile(
  ex: Exchange,
  settings: PolicySettings,
  ctx: PolicyContext,
  files: Record<string, Buffer>,
  name: string,
): Promise<void> {
  const lines = (files[name] ?? Buffer.alloc(0)).toString('utf8').split('\n');
  let rewritten = false;
  for (const [index, text] of lines.entries()) {
    if (text.trim() === '') continue;
    const number = index + 1;
    const line = readLine(text, number);
    const lineEx = lineExchange(ex, line, number, settings);
    try {
      await runRequestPhase(lineEx, settings, ctx);
    } catch (err) {
      if (!lineEx.blocked) throw err;
    }
    if (lineEx.moderated) ex.moderated = true;
    for (const flag of lineEx.flags) {
      if (lineEx.blocking.includes(flag.description)) {
        ex.flag({ type: flag.type, description: `batch file line ${number}: ${flag.description}` }, { block: true });
      } else if (!ex.flags.some((seen) => seen.type === flag.type && seen.description === flag.description)) {
        ex.flag({ ...flag }, { block: false });
      }
    }
    if (ex.blocked) throw policyBlocked(ex.blocking);
    if (lineEx.bodyRewritten) {
      // A CRLF file keeps its line ends.
      lines[index] = JSON.stringify(line.json) + (text.endsWith('\r') ? '\r' : '');
      rewritten = true;
    }
  }
  if (rewritten) {
    files[name] = Buffer.from(lines.join('\n'));
    ex.rewrittenFiles.add(name);
  }
}

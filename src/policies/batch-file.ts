// Batch files: JSONL of requests that a model will read later, out of the gateway's sight.
// Each line's `body` passes the request phase as a request to the line's `url` would; the
// first line refused is named in the 422. A file uploaded through the gateway
// (`POST /files`, `purpose=batch`) is checked on its way up, redacted lines rewritten in it;
// a batch created from a stored file (`POST /batches`) has that file read back and checked,
// since it may have been uploaded some other way — a line that would need redacting then
// blocks, as a stored file cannot be changed.
import { badRequest, batchFileUnreadable, policyBlocked } from '../errors.js';
import { Exchange } from '../exchange.js';
import type { PolicySettings } from '../policy-settings.js';
import { isObject, type Json } from '../wire/json.js';
import { readTarget } from '../wire/target.js';
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

function readLine(text: string, where: string): BatchLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest(`${where} is not valid JSON`);
  }
  if (
    !isObject(value) ||
    typeof value.method !== 'string' ||
    typeof value.url !== 'string' ||
    !isObject(value.body) ||
    Array.isArray(value.body)
  ) {
    throw badRequest(`${where} is not a batch request (needs "method", "url" and an object "body")`);
  }
  return { json: value, method: value.method, url: value.url, body: value.body };
}

/** The line as an exchange of its own, read as the proxy reads a JSON request. */
function lineExchange(parent: Exchange, line: BatchLine, where: string, settings: PolicySettings): Exchange {
  const target = readTarget(line.url);
  if (!target.ok) throw badRequest(`${where}: ${target.reason}`);
  const ex = new Exchange(line.method.toUpperCase(), target.path, target.query, parent.headers, parent.ip);
  ex.connection = parent.connection;
  ex.settings = settings;
  ex.body = { kind: 'json', raw: Buffer.from(JSON.stringify(line.body)), json: line.body };
  ex.model = ex.field('model') ?? null;
  ex.endUser = ex.field('user') || ex.field('safety_identifier') || null;
  ex.stream = line.body.stream === true;
  return ex;
}

/**
 * Passes every line through the request phase; throws the 422 of the first refused.
 * Answers the file with redacted lines rewritten, or null when no line changed.
 */
async function checkLines(
  ex: Exchange,
  settings: PolicySettings,
  ctx: PolicyContext,
  file: string,
  label: string,
  canRewrite: boolean,
): Promise<string | null> {
  const lines = file.split('\n');
  let rewritten = false;
  for (const [index, text] of lines.entries()) {
    if (text.trim() === '') continue;
    const where = `${label} line ${index + 1}`;
    const line = readLine(text, where);
    const lineEx = lineExchange(ex, line, where, settings);
    try {
      await runRequestPhase(lineEx, settings, ctx);
    } catch (err) {
      if (!lineEx.blocked) throw err;
    }
    if (lineEx.moderated) ex.moderated = true;
    for (const flag of lineEx.flags) {
      const blocks = lineEx.blocking.includes(flag.description) || (lineEx.bodyRewritten && !canRewrite);
      if (blocks) {
        const cannot = lineEx.blocking.includes(flag.description) ? '' : ' (a stored file cannot be redacted)';
        ex.flag({ type: flag.type, description: `${where}: ${flag.description}${cannot}` }, { block: true });
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
  return rewritten ? lines.join('\n') : null;
}

/** Checks a batch file uploaded through the gateway, line by line, rewriting redacted lines. */
export async function inspectBatchFile(ex: Exchange, settings: PolicySettings, ctx: PolicyContext): Promise<void> {
  if (ex.endpoint !== 'files' || ex.body.kind !== 'multipart' || ex.field('purpose') !== 'batch') return;
  const files = ex.body.files;
  if (!files || !hasContentPolicy(settings)) return;
  // OpenAI reads the part named `file`; any other file part is checked as well, for servers that read it.
  for (const [name, content] of Object.entries(files)) {
    const rewritten = await checkLines(ex, settings, ctx, content.toString('utf8'), 'batch file', true);
    if (rewritten !== null) {
      files[name] = Buffer.from(rewritten);
      ex.rewrittenFiles.add(name);
    }
  }
}

/** Checks the stored input file of a new batch, read back from upstream, before the batch is created. */
export async function inspectBatchInput(ex: Exchange, settings: PolicySettings, ctx: PolicyContext): Promise<void> {
  const fileId = ex.json?.input_file_id;
  if (ex.endpoint !== 'batches' || typeof fileId !== 'string' || !hasContentPolicy(settings)) return;
  const read = await ctx.readUpstream(`/files/${encodeURIComponent(fileId)}/content`);
  if (read.status !== 200) throw batchFileUnreadable(fileId, `upstream answered ${read.status}`);
  if (read.text === null) throw batchFileUnreadable(fileId, 'it is larger than the request body limit');
  await checkLines(ex, settings, ctx, read.text, `batch input file ${fileId}`, false);
}

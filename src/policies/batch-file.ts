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
import { endUserOf } from '../providers/view.js';
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
 * One request of a batch through the request phase; its flags become the batch's, a
 * blocking one (or a redaction that cannot be written back) named by `where` in the 422.
 */
async function checkRequest(
  ex: Exchange,
  lineEx: Exchange,
  where: string,
  canRewrite: boolean,
  settings: PolicySettings,
  ctx: PolicyContext,
): Promise<void> {
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
}

/**
 * Anthropic's message batches (`POST /anthropic/v1/messages/batches`): each request's
 * `params` passes the request phase as a Messages request would; redactions are made in
 * place, so the batch goes upstream with them.
 */
export async function inspectMessageBatch(ex: Exchange, settings: PolicySettings, ctx: PolicyContext): Promise<void> {
  if (ex.endpoint !== 'anthropic.batches' || !ex.json || !hasContentPolicy(settings)) return;
  const requests = ex.json.requests;
  if (!Array.isArray(requests)) throw badRequest('requests: an array of batch requests is required');
  for (const [index, request] of requests.entries()) {
    const where = `requests.${index}`;
    if (!isObject(request) || !isObject(request.params) || Array.isArray(request.params)) {
      throw badRequest(`${where}: a batch request needs "custom_id" and an object "params"`);
    }
    const params = request.params;
    const lineEx = new Exchange('POST', '/v1/messages', '', ex.headers, ex.ip, 'anthropic.messages');
    lineEx.connection = ex.connection;
    lineEx.native = ex.native;
    lineEx.settings = settings;
    lineEx.body = { kind: 'json', raw: Buffer.alloc(0), json: params };
    lineEx.model = typeof params.model === 'string' ? params.model : null;
    lineEx.endUser = endUserOf('anthropic.messages', params) || ex.header('x-usagepanda-user') || null;
    await checkRequest(ex, lineEx, where, true, settings, ctx);
    if (lineEx.bodyRewritten) ex.bodyRewritten = true;
  }
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
    await checkRequest(ex, lineEx, where, canRewrite, settings, ctx);
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

// Reads what the client sent into the exchange: the body (bounded), its JSON or
// multipart fields, and the request-level values every record carries.
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { z } from 'zod';
import {
  badHeader,
  badRequest,
  bodyTooLarge,
  clientBodyTimeout,
  fieldTooLarge,
  unsupportedMediaType,
} from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { NativeRoute } from '../providers/native.js';
import { endUserOf } from '../providers/view.js';
import { bodyFormatOf } from '../wire/endpoints.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';

/**
 * Reads the whole body, refusing more than `limit` bytes without buffering the excess,
 * and a body that takes longer than `timeoutMs` to arrive (a slow client holds a connection).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(bodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: unknown) => {
      clearTimeout(timer);
      req.off('data', onData);
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.resume(); // discard the rest so the 413 can still be answered
        fail(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const timer = setTimeout(() => fail(clientBodyTimeout(timeoutMs)), timeoutMs);
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(timer);
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.once('error', fail);
  });
}

/** The fields of the JSON body the gateway itself reads; everything else passes untouched. */
const KnownFieldsSchema = z.looseObject({
  model: z.string().optional(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  stream: z.boolean().nullish(),
});

const TRACE_ID = /^[A-Za-z0-9_-]{1,99}$/;

/**
 * Reads the body by its content type and its endpoint. An endpoint's body is read as the
 * endpoint takes it, whatever the client calls it: a body that parses as JSON is JSON (and
 * forwarded as `application/json`, so upstream reads what the policies read); anything
 * else the gateway could not inspect is a 415. Bodies of other paths pass as they are.
 */
export async function parseBody(ex: Exchange, contentType: string | undefined, raw: Buffer): Promise<void> {
  const type = contentType?.toLowerCase() ?? '';
  const format = bodyFormatOf(ex.endpoint);
  const multipart = type.startsWith('multipart/form-data');
  if (raw.length === 0) {
    ex.body = { kind: 'none' };
  } else if (multipart && format !== 'json') {
    const { fields, files } = await readMultipartParts(contentType ?? '', raw, ex.endpoint === 'files');
    ex.body = files ? { kind: 'multipart', raw, fields, files } : { kind: 'multipart', raw, fields };
  } else if (format === 'multipart') {
    // An upload endpoint's text is in its multipart fields: a JSON body would go unread.
    throw unsupportedBody(ex, format, type);
  } else if (type.includes('json') || (type === '' && format !== null)) {
    ex.body = parseJsonBody(ex, raw);
  } else if (format === null) {
    ex.body = { kind: 'raw', raw };
  } else {
    ex.body = readAsJson(ex, raw, format, type);
  }
  readKnownFields(ex);
}

function readKnownFields(ex: Exchange): void {
  ex.model = ex.field('model') ?? null;
  // Clients that send no end user of their own (Codex) name it in `x-usagepanda-user`.
  ex.endUser = ex.field('user') || ex.field('safety_identifier') || ex.header('x-usagepanda-user') || null;
  ex.stream = ex.json?.stream === true || ex.field('stream') === 'true';
}

/**
 * A native route's model, end user and stream, where its API keeps them (Gemini names the
 * model and the stream in the path). APIs without an end-user field take it from
 * `x-usagepanda-user`. The body stays the client's: policies read it through its API's reader.
 */
export function readNativeFields(ex: Exchange, native: NativeRoute): void {
  if (ex.endpoint !== 'other' && ex.body.kind !== 'json') throw badRequest('request body must be a JSON object');
  const body = ex.json;
  ex.model = native.model ?? (typeof body?.model === 'string' ? body.model : null);
  ex.endUser = endUserOf(ex.endpoint, body) || ex.header('x-usagepanda-user') || null;
  ex.stream = native.stream || body?.stream === true;
}

/** Parses a JSON body; too deep a nesting is refused before parsing (JSON.parse recurses). */
function parseJsonValue(raw: Buffer): { value: unknown } | { error: string } {
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw badRequest(`request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    return { value: JSON.parse(raw.toString('utf8')) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function parseJsonBody(ex: Exchange, raw: Buffer): Exchange['body'] {
  const parsed = parseJsonValue(raw);
  if ('error' in parsed) throw badRequest(`request body is not valid JSON (${parsed.error})`);
  return jsonBody(ex, raw, parsed.value);
}

function jsonBody(ex: Exchange, raw: Buffer, value: unknown): Exchange['body'] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    if (ex.endpoint === 'other') return { kind: 'raw', raw };
    throw badRequest('request body must be a JSON object');
  }
  const known = KnownFieldsSchema.safeParse(value);
  if (!known.success) {
    const issue = known.error.issues[0];
    throw badRequest(`invalid request body: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return { kind: 'json', raw, json: value as Record<string, unknown> };
}

/** A body with another content type on an endpoint that takes JSON: JSON if it parses as such, else 415. */
function readAsJson(ex: Exchange, raw: Buffer, format: BodyFormatName, type: string): Exchange['body'] {
  const parsed = parseJsonValue(raw);
  if ('error' in parsed || typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
    throw unsupportedBody(ex, format, type);
  }
  // Forwarded as what it was read as, so upstream cannot read it another way.
  ex.headers['content-type'] = 'application/json';
  return jsonBody(ex, raw, parsed.value);
}

type BodyFormatName = NonNullable<ReturnType<typeof bodyFormatOf>>;

function unsupportedBody(ex: Exchange, format: BodyFormatName, type: string) {
  const expected =
    format === 'multipart' ? 'multipart/form-data' : format === 'json' ? 'JSON' : 'JSON or multipart/form-data';
  const sent = type.split(';')[0]?.trim() || 'no content type';
  return unsupportedMediaType(
    `${ex.method} ${ex.clientPath} takes a ${expected} body; the body sent as ${sent} is not one`,
  );
}

/**
 * Reads the text fields of a multipart body, whole (the body is bounded already), and
 * with `keepFiles` its file parts; the original bytes are what is forwarded.
 */
function readMultipartParts(
  contentType: string,
  raw: Buffer,
  keepFiles: boolean,
): Promise<{ fields: Record<string, string>; files?: Record<string, Buffer> }> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: Record<string, Buffer> = {};
    const fail = (err: Error) => reject(badRequest(`invalid multipart body (${err.message})`));
    // No field can be longer than the body: every byte of every field is read and inspected.
    const fieldSize = Math.max(raw.length, 1);
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: { 'content-type': contentType }, limits: { fieldSize } });
    } catch (err) {
      fail(err as Error);
      return;
    }
    parser.on('field', (name, value, info) => {
      // Cannot happen with the limit above; were it ever cut, the rest would go upstream unread.
      if (info.valueTruncated) reject(fieldTooLarge(name, fieldSize));
      // Servers differ on which of two same-named fields counts: the one checked might not be the one used.
      if (Object.hasOwn(fields, name)) reject(badRequest(`multipart field "${name}" appears more than once`));
      fields[name] = value;
    });
    // A body cut short inside a file part fails the file's stream as well as the parser:
    // an 'error' without a listener would bring the whole process down.
    parser.on('file', (name, file) => {
      file.on('error', fail);
      if (!keepFiles) {
        file.resume();
        return;
      }
      const chunks: Buffer[] = [];
      file.on('data', (chunk: Buffer) => chunks.push(chunk));
      file.on('end', () => {
        files[name] = Buffer.concat(chunks);
      });
    });
    parser.on('close', () => resolve(keepFiles ? { fields, files } : { fields }));
    parser.on('error', fail);
    parser.end(raw);
  });
}

/** `x-usagepanda-trace-id`: under 100 letters, digits, `-` and `_`. */
export function readTraceId(ex: Exchange): string | null {
  const value = ex.header('x-usagepanda-trace-id');
  if (value === undefined) return null;
  if (!TRACE_ID.test(value)) {
    throw badHeader('x-usagepanda-trace-id', 'use 1 to 99 letters, digits, "-" or "_"');
  }
  return value;
}

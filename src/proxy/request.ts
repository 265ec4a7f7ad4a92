// Reads what the client sent into the exchange: the body (bounded), its JSON or
// multipart fields, and the request-level values every record carries.
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { z } from 'zod';
import { badHeader, badRequest, bodyTooLarge, clientBodyTimeout } from '../errors.js';
import type { Exchange } from '../exchange.js';
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

export async function parseBody(ex: Exchange, contentType: string | undefined, raw: Buffer): Promise<void> {
  const type = contentType?.toLowerCase() ?? '';
  if (raw.length === 0) {
    ex.body = { kind: 'none' };
  } else if (type.includes('json') || (type === '' && ex.endpoint !== 'other')) {
    ex.body = parseJsonBody(ex, raw);
  } else if (type.startsWith('multipart/form-data')) {
    ex.body = { kind: 'multipart', raw, fields: await readMultipartFields(contentType ?? '', raw) };
  } else {
    ex.body = { kind: 'raw', raw };
  }
  ex.model = ex.field('model') ?? null;
  ex.endUser = ex.field('user') || ex.field('safety_identifier') || null;
  ex.stream = ex.json?.stream === true || ex.field('stream') === 'true';
}

function parseJsonBody(ex: Exchange, raw: Buffer): Exchange['body'] {
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw badRequest(`request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw badRequest(`request body is not valid JSON (${(err as Error).message})`);
  }
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

/** Reads the text fields of a multipart body; the original bytes are what is forwarded. */
function readMultipartFields(contentType: string, raw: Buffer): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const fail = (err: Error) => reject(badRequest(`invalid multipart body (${err.message})`));
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: { 'content-type': contentType }, limits: { fieldSize: 1024 * 1024 } });
    } catch (err) {
      fail(err as Error);
      return;
    }
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    // A body cut short inside a file part fails the file's stream as well as the parser:
    // an 'error' without a listener would bring the whole process down.
    parser.on('file', (_name, file) => file.on('error', fail).resume());
    parser.on('close', () => resolve(fields));
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

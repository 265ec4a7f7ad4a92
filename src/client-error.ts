// Errors of the HTTP layer, answered in OpenAI's error shape like every other error of the
// gateway: a request node:http's parser refuses before any route sees it (CR, LF or NUL in
// a header, obs-fold, a bad method, headers too large or too slow), a URL or body Fastify
// refuses, and whatever else Fastify's own handlers would answer in their shape.
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type GatewayError, httpLayerError } from './errors.js';

/** node:http's parser errors carry the parser's reason, e.g. `Invalid header value char`. */
type ParserError = Error & { code?: string; reason?: string };

function parserError(err: ParserError): GatewayError {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return httpLayerError({ statusCode: 431, message: 'request headers too large' }, 0);
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // headersTimeout (60 s) or requestTimeout (the gateway's clientBodyTimeoutMs) passed.
    return httpLayerError({ statusCode: 408, message: 'request not received in time (clientBodyTimeoutMs)' }, 0);
  }
  const reason = err.reason ?? err.code ?? 'unreadable';
  return httpLayerError({ statusCode: 400, message: `malformed HTTP request: ${reason}` }, 0);
}

/** The server's `clientErrorHandler`: answers, then closes the connection (the parser cannot resume). */
export function answerClientError(err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Not in the middle of another answer on this keep-alive connection, as node:http checks too.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) writeAndClose(socket, parserError(err));
  else socket.destroy();
}

/**
 * The server's 'connect' listener: a CONNECT (a forward proxy's tunnel) is nothing this
 * gateway offers. Without a listener node:http drops the socket without a word.
 */
export function refuseTunnel(_req: IncomingMessage, socket: Duplex): void {
  const error = httpLayerError(
    { statusCode: 405, message: 'CONNECT is not supported: this is not a forward proxy' },
    0,
  );
  writeAndClose(socket, error);
}

/** A whole HTTP answer written on the socket itself, then the connection closed. */
function writeAndClose(socket: Duplex, error: GatewayError): void {
  const body = JSON.stringify(error.toBody());
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** Fastify's error handler for routes outside the admin API, and its `frameworkErrors` (a bad URL). */
export function answerFrameworkError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const error = httpLayerError(err, request.routeOptions?.bodyLimit ?? 0);
  if (error.status >= 500) reply.log.error({ err }, 'unexpected error');
  reply.code(error.status).headers(error.headers).send(error.toBody());
}

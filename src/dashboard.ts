// Serves the built dashboard (dist/web, made by `vite build`) at `/` and `/assets/*` —
// nothing else, so it never shadows /v1, /api, /metrics or the health checks. The app
// uses hash routing, so every page of it is `/`.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from './errors.js';

/** dist/web, both from src/ (tests, tsx) and from dist/ (npm start). */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../dist/web/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Vite writes flat, content-hashed names into assets/; anything else is not ours. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // ECharts and React set inline styles; scripts come only from our own assets.
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

export async function dashboardRoutes(app: FastifyInstance, dir: string = DEFAULT_DASHBOARD_DIR): Promise<void> {
  app.get('/', async (_request, reply) => {
    if (await sendFile(reply, join(dir, 'index.html'), PAGE_HEADERS)) return reply;
    return reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send('The dashboard is not built: run `npm run build` (npm start does it for you).\n');
  });

  app.get<{ Params: { '*': string } }>('/assets/*', async (request, reply) => {
    const name = request.params['*'];
    const headers = {
      // Names change with content, so a browser may keep them for good.
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    };
    if (ASSET_NAME.test(name) && (await sendFile(reply, join(dir, 'assets', name), headers))) return reply;
    const error = notFound('asset');
    return reply.code(error.status).send(error.toBody());
  });
}

async function sendFile(reply: FastifyReply, path: string, headers: Record<string, string>): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) return false;
  reply
    .headers(headers)
    .header('content-type', CONTENT_TYPES[extname(path)] ?? 'application/octet-stream')
    .header('content-length', info.size)
    .header('last-modified', info.mtime.toUTCString());
  reply.send(createReadStream(path));
  return true;
}

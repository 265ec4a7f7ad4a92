// Dashboard sessions: signing in with the admin token sets an HttpOnly, SameSite=Strict
// cookie (Secure when the dashboard is served over HTTPS). Sessions are signed, with an
// expiry, so every replica accepts them; signing out puts the session's id on a revocation
// list in the store, which every replica reads and which survives restarts. A write made
// with the cookie must also carry a CSRF token derived from the session, which a page on
// another origin can neither read nor guess.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { adminUnauthorized, GatewayError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { AdminAuthLimit } from './auth-limit.js';
import type { AdminToken, StoredAdminToken } from './token.js';

export const SESSION_COOKIE = 'up_session';
export const CSRF_HEADER = 'x-usagepanda-csrf';
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface Sessions {
  issue(now?: number): { cookie: string; csrfToken: string };
  /** The CSRF token of a valid, unexpired, unrevoked session value; null otherwise. */
  check(value: string, now?: number): Promise<string | null>;
  /** Ends a session for good, on every replica: its cookie is refused from now on. */
  revoke(value: string): Promise<void>;
}

export function createSessions(
  adminToken: StoredAdminToken,
  gatewaySecret: string,
  store: Pick<Store, 'revokeSession' | 'isSessionRevoked'>,
): Sessions {
  // Bound to both the gateway secret and the admin token: a leaked database alone cannot
  // forge a session, and resetting the token signs everyone out.
  const key = Buffer.from(hkdfSync('sha256', gatewaySecret, adminToken.hash, 'usage-panda-session', 32));
  const sign = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  const csrfOf = (value: string) => sign(`csrf:${value}`);
  /** The session's id and expiry when the value is signed by us; null otherwise. */
  const open = (value: string) => {
    const cut = value.lastIndexOf('.');
    if (cut < 0) return null;
    const body = value.slice(0, cut);
    if (!sameText(value.slice(cut + 1), sign(body))) return null;
    const [expires, id] = body.split('.');
    const expiresAt = Number(expires);
    return id && Number.isFinite(expiresAt) ? { id, expiresAt } : null;
  };
  return {
    issue(now = Date.now()) {
      const body = `${now + SESSION_TTL_MS}.${randomBytes(16).toString('base64url')}`;
      const cookie = `${body}.${sign(body)}`;
      return { cookie, csrfToken: csrfOf(cookie) };
    },
    async check(value, now = Date.now()) {
      const session = open(value);
      if (!session || session.expiresAt <= now) return null;
      return (await store.isSessionRevoked(session.id)) ? null : csrfOf(value);
    },
    async revoke(value) {
      const session = open(value);
      if (session && session.expiresAt > Date.now()) await store.revokeSession(session.id, session.expiresAt);
    },
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const csrfRejected = () =>
  new GatewayError(
    'UP_ERR_CSRF',
    403,
    'access_denied',
    `Usage Panda: missing or invalid ${CSRF_HEADER} header (required for dashboard writes)`,
  );

/**
 * Lets a request through with the admin token as a bearer, or with a session cookie —
 * for writes only together with the session's CSRF token. Without `sessions` (an admin
 * API built without the dashboard) only the bearer token is accepted.
 */
export async function authorizeAdmin(
  request: FastifyRequest,
  adminToken: AdminToken,
  sessions?: Sessions,
  limit?: AdminAuthLimit,
): Promise<void> {
  const header = request.headers.authorization;
  if (header) {
    const token = header.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : '';
    verifyToken(request, adminToken, token, limit);
    return;
  }
  const session = readCookie(request.headers.cookie, SESSION_COOKIE);
  const csrfToken = session && sessions ? await sessions.check(session) : null;
  if (!csrfToken) throw adminUnauthorized();
  if (SAFE_METHODS.has(request.method)) return;
  const sent = request.headers[CSRF_HEADER];
  if (typeof sent !== 'string' || !sameText(sent, csrfToken)) throw csrfRejected();
}

/** Checks an admin token against the token and the IP's failure limit. */
function verifyToken(request: FastifyRequest, adminToken: AdminToken, token: string, limit?: AdminAuthLimit): void {
  limit?.check(request.ip);
  if (token && adminToken.verify(token)) return;
  limit?.failed(request.ip);
  throw adminUnauthorized();
}

const SignInSchema = z.object({ token: z.string().min(1) }).strict();

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`,
  );
}

/**
 * `/api/session`: POST signs in with the admin token, GET tells the dashboard whether it
 * is signed in (and its CSRF token), DELETE signs out. Registered outside the auth hook.
 */
export async function sessionRoutes(
  app: FastifyInstance,
  adminToken: AdminToken,
  sessions: Sessions,
  limit?: AdminAuthLimit,
): Promise<void> {
  app.post('/session', async (request, reply) => {
    const { token } = SignInSchema.parse(request.body ?? {});
    verifyToken(request, adminToken, token, limit);
    const { cookie, csrfToken } = sessions.issue();
    setSessionCookie(request, reply, cookie, SESSION_TTL_MS / 1000);
    return { authenticated: true, csrfToken };
  });

  app.get('/session', async (request) => {
    const session = readCookie(request.headers.cookie, SESSION_COOKIE);
    const csrfToken = session ? await sessions.check(session) : null;
    if (!csrfToken) throw adminUnauthorized();
    return { authenticated: true, csrfToken };
  });

  // Signing out revokes the session on the server and clears the cookie; it needs no CSRF
  // token because a forged sign-out does no harm beyond asking the person to sign in again.
  app.delete('/session', async (request, reply) => {
    const session = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (session) await sessions.revoke(session);
    setSessionCookie(request, reply, '', 0);
    reply.code(204);
  });
}

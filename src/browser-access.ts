// What a browser may do with the gateway: the Host check that keeps DNS rebinding out, and
// which origins get CORS. A gateway that needs no key (standalone, or USAGE_PANDA_API_KEY)
// spends the operator's provider key for anyone who reaches it, so there a web page of
// another origin gets no CORS and its requests are refused; a keyed gateway keeps `*`.
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { z } from 'zod';
import { type GatewayError, hostNotAllowed, originNotAllowed } from './errors.js';

/** A comma-separated list from the environment or a flag, an array from the config file. */
const listOf = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
        : value,
    z.array(item),
  );

/** `api.example.com`, `.example.com` (it and its subdomains), or an IP address, without a port. */
export const AllowedHostsSchema = listOf(
  z
    .string()
    .trim()
    .toLowerCase()
    .transform((value) => (value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value))
    .refine(isHostPattern, {
      error: 'expected a host name (api.example.com), .example.com for a domain and its subdomains, or an IP address',
    }),
);

/** `https://app.example.com`: scheme, host and port as a browser sends them in `Origin`. */
export const CorsOriginsSchema = listOf(
  z
    .string()
    .trim()
    .transform((value, ctx) => {
      const origin = originOf(value.replace(/\/$/, ''));
      if (origin === null) {
        ctx.addIssue({ code: 'custom', message: `expected an origin such as https://app.example.com, got ${value}` });
        return z.NEVER;
      }
      return origin;
    }),
);

function isHostPattern(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.startsWith('.') ? value.slice(1) : value;
  if (name === '' || name.length > 253) return false;
  return name.split('.').every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label));
}

/** The serialized origin of an http(s) URL that is nothing but an origin; null otherwise. */
function originOf(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return value.toLowerCase() === url.origin.toLowerCase() ? url.origin : null;
  } catch {
    return null;
  }
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Names that always resolve to this machine: a page elsewhere cannot be served under them. */
function isLoopbackName(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || host.endsWith('.localhost') || (isIP(host) === 4 && host.startsWith('127.'));
}

/** The host name of a Host header value, lower case, without port or IPv6 brackets; null when malformed. */
function hostName(value: string | undefined): string | null {
  if (!value) return null;
  const host = value.trim().toLowerCase();
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close === -1) return null;
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    return host.slice(1, close);
  }
  const colon = host.indexOf(':');
  if (colon !== -1 && !/^\d{1,5}$/.test(host.slice(colon + 1))) return null;
  return colon === -1 ? host : host.slice(0, colon);
}

/** The headers every CORS answer carries besides the origin itself. */
const CORS_COMMON: Readonly<Record<string, string>> = Object.freeze({
  'access-control-allow-headers': '*',
  'access-control-allow-methods': 'OPTIONS,POST,GET,PUT,PATCH,DELETE',
  'access-control-expose-headers': 'x-usagepanda-request-id, x-usagepanda-overhead-ms, x-request-id',
});

export interface BrowserAccessOptions {
  /** The address the gateway listens on. */
  listenHost: string;
  /** True when a request without a key is let through (standalone mode or USAGE_PANDA_API_KEY). */
  keyless: boolean;
  allowedHosts?: readonly string[];
  /** Unset: `*` for a keyed gateway, none for a keyless one. */
  corsOrigins?: readonly string[];
}

export interface BrowserAccess {
  /** Whether Host is checked at all: on loopback, without keys, or with allowedHosts set. */
  readonly checksHost: boolean;
  /** The refusal for a request whose Host is not this gateway's, or null. */
  hostRefusal(headers: IncomingHttpHeaders, path: string): GatewayError | null;
  /** The refusal for a keyless gateway's request from a web page of an origin not allowed, or null. */
  originRefusal(headers: IncomingHttpHeaders): GatewayError | null;
  /** The CORS headers of a proxy answer to this request. */
  corsHeaders(headers: IncomingHttpHeaders): Readonly<Record<string, string>>;
}

/** Health checks come from probes that name the pod's address; they tell nothing and spend nothing. */
const UNCHECKED_PATHS = new Set(['/healthz', '/readyz']);

export function browserAccess(options: BrowserAccessOptions): BrowserAccess {
  const allowedHosts = options.allowedHosts ?? [];
  const checksHost =
    isLoopbackName(hostName(options.listenHost) ?? options.listenHost) || options.keyless || allowedHosts.length > 0;
  const exact = new Set(allowedHosts.filter((host) => !host.startsWith('.')));
  const domains = allowedHosts.filter((host) => host.startsWith('.'));
  const hostAllowed = (host: string) =>
    isLoopbackName(host) ||
    exact.has(host) ||
    domains.some((domain) => host === domain.slice(1) || host.endsWith(domain));

  const anyOrigin = options.corsOrigins === undefined && !options.keyless;
  const origins = new Set(options.corsOrigins ?? []);
  /** A listed origin, or the gateway's own (a page it serves calling it). */
  const originAllowed = (origin: string, host: string | undefined) => {
    const parsed = originOf(origin);
    if (parsed === null) return false;
    return origins.has(parsed) || (host !== undefined && new URL(parsed).host === host.toLowerCase());
  };
  const withOrigin = (origin: string) => ({ ...CORS_COMMON, 'access-control-allow-origin': origin, vary: 'origin' });
  const everyOrigin = Object.freeze({ ...CORS_COMMON, 'access-control-allow-origin': '*' });

  return {
    checksHost,
    hostRefusal(headers, path) {
      if (!checksHost || UNCHECKED_PATHS.has(path)) return null;
      const host = hostName(headers.host);
      return host !== null && hostAllowed(host) ? null : hostNotAllowed(headers.host ?? '');
    },
    originRefusal(headers) {
      const origin = headers.origin;
      if (!options.keyless || origin === undefined || originAllowed(origin, headers.host)) return null;
      return originNotAllowed(origin);
    },
    corsHeaders(headers) {
      if (anyOrigin) return everyOrigin;
      const origin = headers.origin;
      return origin !== undefined && originAllowed(origin, headers.host) ? withOrigin(originOf(origin) ?? origin) : {};
    },
  };
}

// The request target as the gateway reads it: the path below `/v1` in one normal form
// (repeated slashes collapsed, `.` and `..` resolved, percent-encoded unreserved characters
// decoded), so a path spelt another way is classified, forwarded and recorded as the same
// endpoint — as nginx does before it picks a location.

export type Target =
  | {
      ok: true;
      /** Below the version prefix, e.g. `/chat/completions`. */
      path: string;
      /** The query string including its `?`, or ''; passed on as the client sent it. */
      query: string;
    }
  /** What is wrong with the path, for a 400. */
  | { ok: false; reason: string };

/** A path that has no normal form; caught in readTarget. */
class BadPath extends Error {}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * Decodes `%XX` where it stands for an unreserved character (RFC 3986 §6.2.2.2); any
 * other escape is kept as sent. An encoded slash or backslash would make one path
 * segment look like two to some servers and one to others: refused.
 */
function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%(..)?/g, (_match, hex: string | undefined) => {
    if (hex === undefined || !/^[0-9A-Fa-f]{2}$/.test(hex)) {
      throw new BadPath('request path has an invalid percent-encoding');
    }
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    if (char === '/' || char === '\\') throw new BadPath('request path must not contain an encoded slash');
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/** Splits a request URL into its normal path below `/v1` and its query, or says why it has none. */
export function readTarget(url: string): Target {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  try {
    return { ok: true, path: normalPath(rawPath), query };
  } catch (err) {
    if (err instanceof BadPath) return { ok: false, reason: err.message };
    throw err;
  }
}

function normalPath(rawPath: string): string {
  if (rawPath.includes('\\')) throw new BadPath('request path must not contain a backslash');
  const segments = decodeUnreserved(rawPath).split('/');
  // A path without the version prefix is treated as if it had it.
  const first = segments.findIndex((segment) => segment !== '' && segment !== '.');
  const below = first !== -1 && segments[first] === 'v1' ? segments.slice(first + 1) : segments;
  let kept: string[] = [];
  for (const segment of below) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (kept.length === 0) throw new BadPath('request path must not climb above /v1');
      kept.pop();
      continue;
    }
    kept.push(segment);
  }
  // `/healthz/../v1/chat/completions` comes to the version prefix only once resolved.
  if (below === segments && kept[0] === 'v1') kept = kept.slice(1);
  // A trailing slash is part of what the client asked for; only its repetitions go.
  const last = below[below.length - 1];
  const trailing = kept.length > 0 && (last === '' || last === '.' || last === '..');
  return `/${kept.join('/')}${trailing ? '/' : ''}`;
}

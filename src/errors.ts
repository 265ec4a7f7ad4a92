// Every error a client can cause is made here, once: one constructor per situation,
// each with a stable code, one status and one OpenAI-shaped body.

export type ErrorType =
  | 'access_denied'
  | 'invalid_request'
  | 'rate_limit_exceeded'
  | 'insufficient_quota'
  | 'service_unavailable'
  | 'upstream_error'
  | 'not_found'
  | 'server_error';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export class GatewayError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'GatewayError';
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: null, code: null } };
  }
}

const say = (text: string) => `Usage Panda: ${text}`;

export const invalidKey = () =>
  new GatewayError('UP_ERR_INVALID_KEY', 401, 'access_denied', say('invalid or missing API key'));

export const connectionDisabled = () =>
  new GatewayError('UP_ERR_DISABLED', 403, 'access_denied', say('this API key is disabled'));

export const missingProviderKey = () =>
  new GatewayError(
    'UP_ERR_NO_PROVIDER_KEY',
    401,
    'access_denied',
    say('no provider API key: send "Authorization: Bearer sk-…", store one on the connection, or set OPENAI_API_KEY'),
  );

export const badRequest = (reason: string) =>
  new GatewayError('UP_ERR_BAD_REQUEST', 400, 'invalid_request', say(reason));

export const badHeader = (name: string, reason: string) =>
  new GatewayError('UP_ERR_BAD_HEADER', 400, 'invalid_request', say(`invalid ${name} header: ${reason}`));

export const bodyTooLarge = (limit: number) =>
  new GatewayError('UP_ERR_BODY_TOO_LARGE', 413, 'invalid_request', say(`request body exceeds ${limit} bytes`));

/** One 422 for every blocking flag of a request, as the seed page shows it. */
export const policyBlocked = (descriptions: readonly string[]) =>
  new GatewayError('UP_ERR_POLICY_BLOCKED', 422, 'invalid_request', say(descriptions.join(', ')));

export const rateLimited = (reason: string, retryAfterSeconds: number) =>
  new GatewayError('UP_ERR_RATE_LIMITED', 429, 'rate_limit_exceeded', say(reason), {
    'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))),
  });

/** Over a request or token limit, e.g. `5 requests per minute per user`. */
export const rateLimitExceeded = (limit: string, retryAfterSeconds: number, headers: Record<string, string> = {}) =>
  new GatewayError('UP_ERR_RATE_LIMIT', 429, 'rate_limit_exceeded', say(`rate limit exceeded: ${limit}`), {
    ...headers,
    'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))),
  });

/** Over a budget, e.g. `$10 per month per user`; Retry-After when the window ends (not for a total). */
export const budgetExceeded = (
  budget: string,
  retryAfterSeconds: number | null,
  headers: Record<string, string> = {},
) =>
  new GatewayError('UP_ERR_BUDGET', 429, 'insufficient_quota', say(`budget exceeded: ${budget}`), {
    ...headers,
    ...(retryAfterSeconds === null ? {} : { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) }),
  });

/** Redis is unreachable and the connection's onStateUnavailable is `deny`. */
export const limitsUnavailable = () =>
  new GatewayError('UP_ERR_LIMITS_UNAVAILABLE', 503, 'service_unavailable', say('limits unavailable'));

export const upstreamUnreachable = (reason: string) =>
  new GatewayError('UP_ERR_UPSTREAM_UNREACHABLE', 502, 'upstream_error', say(`upstream unreachable: ${reason}`));

export const upstreamTimeout = (reason: string) =>
  new GatewayError('UP_ERR_UPSTREAM_TIMEOUT', 504, 'upstream_error', say(`upstream timed out: ${reason}`));

export const notFound = (what: string) =>
  new GatewayError('UP_ERR_NOT_FOUND', 404, 'not_found', say(`${what} not found`));

export const adminUnauthorized = () =>
  new GatewayError('UP_ERR_ADMIN_UNAUTHORIZED', 401, 'access_denied', say('invalid or missing admin token'));

/** A bug: logged with its cause, never shown to the client. */
export const internalError = () => new GatewayError('UP_ERR_INTERNAL', 500, 'server_error', say('internal error'));

/** The moderation check itself failed: the request is not let through unchecked. */
export const moderationFailed = (reason: string) =>
  new GatewayError('UP_ERR_MODERATION_FAILED', 502, 'upstream_error', say(`moderation check failed: ${reason}`));

/** Things declared in the config file change only there; `what` names it, e.g. `connection prod`. */
export const managedByFile = (what: string) =>
  new GatewayError('UP_ERR_MANAGED_BY_FILE', 409, 'invalid_request', say(`${what} is managed by the config file`));

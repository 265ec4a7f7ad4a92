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

/** A body the endpoint cannot take, e.g. text/plain to a JSON endpoint: the gateway would not read it. */
export const unsupportedMediaType = (reason: string) =>
  new GatewayError('UP_ERR_UNSUPPORTED_MEDIA_TYPE', 415, 'invalid_request', say(reason));

/** A multipart text field the gateway cannot read whole. */
export const fieldTooLarge = (name: string, limit: number) =>
  new GatewayError(
    'UP_ERR_FIELD_TOO_LARGE',
    413,
    'invalid_request',
    say(`multipart field "${name}" exceeds ${limit} bytes, more than the gateway inspects`),
  );

export const bodyTooLarge = (limit: number) =>
  new GatewayError('UP_ERR_BODY_TOO_LARGE', 413, 'invalid_request', say(`request body exceeds ${limit} bytes`));

/**
 * What the HTTP layer refused before the gateway's own code ran (node:http's parser,
 * Fastify's URL and body checks), with its 4xx status kept; anything else is a bug.
 */
export function httpLayerError(
  err: { statusCode?: number; code?: string; message: string },
  bodyLimit: number,
): GatewayError {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyTooLarge(bodyLimit);
  const status = err.statusCode;
  if (status === undefined || status < 400 || status >= 500) return internalError();
  return new GatewayError('UP_ERR_BAD_REQUEST', status, 'invalid_request', say(err.message));
}

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

/** Upstream's JSON answer is over `gateway.maxJsonAnswerBytes`: it is read whole, so it is bounded. */
export const upstreamAnswerTooLarge = (limit: number) =>
  new GatewayError(
    'UP_ERR_UPSTREAM_ANSWER_TOO_LARGE',
    502,
    'upstream_error',
    say(`upstream's JSON answer exceeds ${limit} bytes (the gateway's maxJsonAnswerBytes)`),
  );

/** Upstream's connection failed in the middle of a JSON answer. */
export const upstreamAnswerBroken = (reason: string) =>
  new GatewayError(
    'UP_ERR_UPSTREAM_ANSWER_BROKEN',
    502,
    'upstream_error',
    say(`upstream's answer broke off (${reason})`),
  );

/**
 * An answer a native route cannot put in its API's shape (not a JSON object, not an event
 * stream): an upstream error keeps its status, anything else is a 502.
 */
export const upstreamAnswerUntranslatable = (status: number, what: string) =>
  new GatewayError(
    'UP_ERR_UPSTREAM_ANSWER_UNTRANSLATABLE',
    status >= 400 ? status : 502,
    'upstream_error',
    say(`upstream answered ${status} with ${what}`),
  );

/** The connection's (or the gateway's) total upstream timeout passed, every attempt together. */
export const upstreamTotalTimeout = (ms: number) =>
  upstreamTimeout(`the answer was not complete within the total timeout of ${ms} ms (upstreamTotalTimeoutMs)`);

/** The client sent its body too slowly; the connection is closed, its unread rest with it. */
export const clientBodyTimeout = (ms: number) =>
  new GatewayError(
    'UP_ERR_CLIENT_BODY_TIMEOUT',
    408,
    'invalid_request',
    say(`request body not received within ${ms} ms (clientBodyTimeoutMs)`),
    { connection: 'close' },
  );

/** A Host this gateway does not answer to (DNS rebinding, or a name the operator has not listed). */
export const hostNotAllowed = (host: string) =>
  new GatewayError(
    'UP_ERR_HOST_NOT_ALLOWED',
    421,
    'invalid_request',
    say(
      host === ''
        ? 'the request names no host'
        : `host ${JSON.stringify(host.slice(0, 200))} is not allowed; add it to allowedHosts (USAGE_PANDA_ALLOWED_HOSTS, --allowed-hosts)`,
    ),
  );

/** A web page of another origin calling a gateway that needs no key. */
export const originNotAllowed = (origin: string) =>
  new GatewayError(
    'UP_ERR_ORIGIN_NOT_ALLOWED',
    403,
    'access_denied',
    say(
      `requests from web pages of origin ${JSON.stringify(origin.slice(0, 200))} are not allowed; add it to corsOrigins (USAGE_PANDA_CORS_ORIGINS, --cors-origins)`,
    ),
  );

export const notFound = (what: string) =>
  new GatewayError('UP_ERR_NOT_FOUND', 404, 'not_found', say(`${what} not found`));

export const adminUnauthorized = () =>
  new GatewayError('UP_ERR_ADMIN_UNAUTHORIZED', 401, 'access_denied', say('invalid or missing admin token'));

/** A wrong, missing or revoked edge token on the edge API. */
export const edgeUnauthorized = () =>
  new GatewayError('UP_ERR_EDGE_UNAUTHORIZED', 401, 'access_denied', say('invalid, missing or revoked edge token'));

/** A record of a connection the edge token may not serve. */
export const edgeOutOfScope = (connectionId: string) =>
  new GatewayError(
    'UP_ERR_EDGE_SCOPE',
    403,
    'access_denied',
    say(`this edge token may not serve connection ${JSON.stringify(connectionId.slice(0, 100))}`),
  );

/** An edge gateway has no admin API or dashboard: the control plane has them. */
export const adminOnControlPlane = (url: string) =>
  new GatewayError(
    'UP_ERR_EDGE_NO_ADMIN',
    404,
    'not_found',
    say(`this is an edge gateway: the admin API and the dashboard are on the control plane, ${url}`),
  );

export const nameTaken = (what: string, name: string) =>
  new GatewayError('UP_ERR_NAME_TAKEN', 409, 'invalid_request', say(`${what} ${JSON.stringify(name)} already exists`));

/** What the record of a request still in flight when the gateway shut down says. */
export const cutByShutdown = () =>
  new GatewayError('UP_ERR_SHUTDOWN', 503, 'server_error', say('cut by gateway shutdown'));

/** A bug: logged with its cause, never shown to the client. */
export const internalError = () => new GatewayError('UP_ERR_INTERNAL', 500, 'server_error', say('internal error'));

/** The moderation check itself failed: the request is not let through unchecked. */
export const moderationFailed = (reason: string) =>
  new GatewayError('UP_ERR_MODERATION_FAILED', 502, 'upstream_error', say(`moderation check failed: ${reason}`));

/** The stored input file of a new batch could not be read back to check it: the batch is not created unchecked. */
export const batchFileUnreadable = (fileId: string, reason: string) =>
  new GatewayError(
    'UP_ERR_BATCH_FILE_UNREADABLE',
    502,
    'upstream_error',
    say(`could not read batch input file ${fileId} to check it: ${reason}`),
  );

/** Things declared in the config file change only there; `what` names it, e.g. `connection prod`. */
export const managedByFile = (what: string) =>
  new GatewayError('UP_ERR_MANAGED_BY_FILE', 409, 'invalid_request', say(`${what} is managed by the config file`));

/** A provider refused to answer (e.g. Gemini's safety block of a prompt); `reason` says why. */
export const providerRefused = (provider: string, reason: string) =>
  new GatewayError(
    'UP_ERR_PROVIDER_REFUSED',
    400,
    'invalid_request',
    say(`${provider} refused the request: ${reason}`),
  );

/** A target of a provider that signs its requests lacks the credentials to sign with. */
export const missingProviderCredentials = (provider: string, what: string) =>
  new GatewayError('UP_ERR_NO_PROVIDER_KEY', 401, 'access_denied', say(`no credentials for ${provider}: ${what}`));

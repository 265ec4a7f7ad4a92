// What a page shows while loading, on an error, and when there is nothing yet.
import type { ReactNode } from 'react';
import { ApiError } from '../api';

export function Loading({ what }: { what: string }) {
  return (
    <p className="state" aria-busy="true">
      Loading {what}…
    </p>
  );
}

/** A 404 from an endpoint means this gateway does not offer it (yet), not that something broke. */
export function ErrorState({ error, what }: { error: unknown; what: string }) {
  const missing = error instanceof ApiError && error.status === 404;
  return (
    <div className="state state-error" role="alert">
      <strong>{missing ? `${what} are not available on this gateway.` : `Could not load ${what}.`}</strong>
      <p>
        {missing
          ? 'Its API endpoint answered 404 Not Found: this gateway version does not provide it yet. Upgrade the gateway to see this page.'
          : error instanceof Error
            ? error.message
            : String(error)}
      </p>
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <strong>{title}</strong>
      {children}
    </div>
  );
}

/** The curl command of a first request, for empty pages. */
export function FirstRequest({ apiKey = 'up-YOUR-USAGE-PANDA-KEY' }: { apiKey?: string }) {
  return (
    <>
      <p>Send a first request through the gateway, for example:</p>
      <pre className="code">{curlSnippet(apiKey)}</pre>
      <p>
        No key yet? Create one on the <a href="#/connections">Connections</a> page.
      </p>
    </>
  );
}

export const gatewayBaseUrl = () => `${window.location.origin}/v1`;

export function curlSnippet(apiKey: string): string {
  return `curl ${gatewayBaseUrl()}/chat/completions \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -H "x-usagepanda-api-key: ${apiKey}" \\
  -d '{"model": "gpt-4o-mini", "user": "user-123", "messages": [{"role": "user", "content": "Hello"}]}'`;
}

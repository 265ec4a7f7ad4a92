// Uninspected endpoints: while any content policy is on, a request whose text the gateway
// cannot read (an unclassified endpoint with a body, a file upload other than a batch) is
// refused, unless the connection lists its path in `passthroughPaths`.
import type { Exchange } from '../exchange.js';
import type { PolicySettings } from '../policy-settings.js';
import { definePolicy } from './policy.js';
import { hasWordlists } from './wordlists.js';

export const UNINSPECTED_FLAG_TYPE = 'policy_uninspected_endpoint';

/** True when any setting looks at what the request or its answer says. */
export function hasContentPolicy(settings: PolicySettings): boolean {
  return (
    settings.enforceUserIds ||
    settings.maxTokens > 0 ||
    settings.maxPromptChars > 0 ||
    settings.blockedModels.length > 0 ||
    settings.allowedModels.length > 0 ||
    settings.autoModerate ||
    hasWordlists(settings.requestWordlists) ||
    hasWordlists(settings.responseWordlists) ||
    settings.promptReflection !== 'none'
  );
}

/** Whether the gateway reads everything of this request that a model will read. */
export function isInspected(ex: Exchange): boolean {
  // No body, no text: reads, deletes and actions such as cancelling a batch.
  if (ex.body.kind === 'none') return true;
  if (ex.endpoint === 'other') return false;
  // Batch files are JSONL of requests, each read line by line; other files (PDFs, images,
  // fine-tuning data) are not read.
  if (ex.endpoint === 'files') return ex.field('purpose') === 'batch';
  return true;
}

/** `path` is `prefix` or below it, segment by segment: `/assistants` covers `/assistants/a1`, not `/assistantsx`. */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

export const uninspectedEndpoints = definePolicy({
  setting: 'passthroughPaths',
  endpoints: 'all',
  // Always on: it refuses only while another policy is on, which it checks itself.
  isOn: () => true,
  loosens: () => false,
  onRequest(ex, passthrough) {
    if (isInspected(ex) || !ex.settings || !hasContentPolicy(ex.settings)) return;
    // A native route's paths are listed as the client calls them (`/anthropic/v1/files`).
    const path = ex.native?.path ?? ex.path;
    if (passthrough.some((prefix) => isUnder(path, prefix))) return;
    ex.flag(
      {
        type: UNINSPECTED_FLAG_TYPE,
        description: `endpoint not inspected by this connection's policy: ${ex.method} ${ex.clientPath}`,
      },
      { block: true },
    );
  },
});

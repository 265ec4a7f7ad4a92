// The policies, in the order the pipeline runs them.
import { allowedModels } from './allowed-models.js';
import { autoModerate } from './auto-moderate.js';
import { blockedModels } from './blocked-models.js';
import { enforceUserIds } from './enforce-user-ids.js';
import { logRequestBody, logResponseBody } from './log-bodies.js';
import { maxPromptChars } from './max-prompt-chars.js';
import { maxTokens } from './max-tokens.js';
import type { AnyPolicy } from './policy.js';
import { promptReflection } from './prompt-reflection.js';
import { requestWordlists } from './request-wordlists.js';
import { responseWordlists } from './response-wordlists.js';
import { retryCount } from './retry-count.js';
import { uninspectedEndpoints } from './uninspected-endpoints.js';

export const POLICIES: readonly AnyPolicy[] = [
  // First: a request the gateway cannot read is refused before any other policy reads it.
  uninspectedEndpoints,
  enforceUserIds,
  blockedModels,
  allowedModels,
  maxTokens,
  maxPromptChars,
  requestWordlists,
  // After redaction, so the moderation check sees what upstream will get.
  autoModerate,
  responseWordlists,
  promptReflection,
  // Settings the proxy reads itself; listed so their headers are resolved like every other.
  retryCount,
  logRequestBody,
  logResponseBody,
];

// The policies, in the order the pipeline runs them.
import { enforceUserIds } from './enforce-user-ids.js';
import type { AnyPolicy } from './policy.js';

export const POLICIES: readonly AnyPolicy[] = [enforceUserIds];

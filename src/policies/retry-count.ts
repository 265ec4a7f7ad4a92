// Retry count: how often the proxy calls upstream again after a failure (0..5). The
// proxy reads the resolved setting itself (proxy/retry.ts); this module declares the
// setting and its header.
import { z } from 'zod';
import { definePolicy } from './policy.js';

export const retryCount = definePolicy({
  setting: 'retryCount',
  header: 'x-usagepanda-retry-count',
  headerSchema: z
    .string()
    .trim()
    .regex(/^[0-5]$/, { error: 'expected a whole number from 0 to 5' })
    .transform(Number),
  endpoints: 'all',
  // No hook of its own: nothing for the pipeline to run.
  isOn: () => false,
  // Each retry is another upstream call on the operator's key: more than the connection's
  // count loosens it, fewer tightens it.
  loosens: (override, configured) => override > configured,
});

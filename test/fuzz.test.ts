// A short fuzzing campaign (the one `npm run fuzz` runs at 100,000 requests) against a real gateway
// process with the mock upstream: no generated request may get a 5xx or take the process down.
import { describe, expect, it } from 'vitest';
import { runCampaign } from '../fuzz/campaign.js';

describe('fuzzing the gateway', () => {
  it('answers a few hundred generated requests to /v1 and /api without a 5xx or a crash', {
    timeout: 240_000,
  }, async () => {
    const report = await runCampaign({
      requests: 400,
      seed: 15_19,
      concurrency: 4,
      answerTimeoutMs: 60_000,
    });
    const failures = report.failures
      .filter((f) => typeof f.status === 'number')
      .map((f) => `${f.status} ${f.request}\n>>> ${f.answer}`);
    expect(failures).toEqual([]);
    expect(report.serverErrors).toBe(0);
    expect(report.crashed, report.crashOutput).toBe(false);
    expect(report.byStatus.timeout ?? 0).toBe(0);
    // The campaign reached the gateway's own code on both sides, not only the HTTP parser.
    expect(report.requests).toBe(400);
    expect(report.byStatus['200']).toBeGreaterThan(0);
    expect(report.byMessage['Usage Panda: invalid or missing API key']).toBeGreaterThan(0);
    expect(report.byMessage['Usage Panda: invalid or missing admin token']).toBeGreaterThan(0);
    expect(Object.keys(report.byFamily).sort()).toEqual([
      'admin-json',
      'any-json',
      'deep-json',
      'huge-body',
      'multipart',
      'no-body',
      'openai-json',
      'raw-bytes',
    ]);
  });
});

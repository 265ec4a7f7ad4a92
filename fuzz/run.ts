// `npm run fuzz`: a fuzzing campaign against a real gateway process; prints the figures and exits 1
// on any 5xx or crash. Options: --requests N (default 100000), --seed S, --concurrency C, --json,
// --exclude AREA[,AREA] (see AREAS in requests.ts).
import { parseArgs } from 'node:util';
import { runCampaign } from './campaign.js';
import { AREAS, type Area } from './requests.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    concurrency: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    exclude: { type: 'string', multiple: true, default: [] },
  },
});

const exclude = values.exclude.flatMap((v) => v.split(','));
const unknown = exclude.filter((area) => !(AREAS as readonly string[]).includes(area));
if (unknown.length > 0) {
  process.stderr.write(`fuzz: unknown area ${unknown.join(', ')}; the areas are ${AREAS.join(', ')}\n`);
  process.exit(2);
}

const report = await runCampaign({
  exclude: exclude as Area[],
  requests: Number(values.requests),
  seed: Number(values.seed),
  concurrency: Number(values.concurrency),
  answerTimeoutMs: 30_000,
  progress: (r) =>
    process.stderr.write(
      `${new Date().toISOString()} ${r.requests} sent, ${r.serverErrors} 5xx, crashed: ${r.crashed ? 'yes' : 'no'}, peak RSS ${r.peakRssMb ?? '?'} MB, ${JSON.stringify(r.byStatus)}\n`,
    ),
});

if (values.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  const lines = [
    `requests:     ${report.requests} (seed ${report.seed}, ${report.seconds} s)`,
    `5xx answers:  ${report.serverErrors}`,
    `crashed:      ${report.crashed ? 'yes' : 'no'}`,
    `peak RSS:     ${report.peakRssMb === null ? 'unknown' : `${report.peakRssMb} MB`}`,
    `by status:    ${Object.entries(report.byStatus)
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')}`,
    `by family:    ${Object.entries(report.byFamily)
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')}`,
    'top messages:',
    ...Object.entries(report.byMessage)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([message, n]) => `  ${String(n).padStart(6)}  ${message}`),
  ];
  for (const failure of report.failures) {
    lines.push('', `--- ${failure.status} (${failure.family})`, failure.request, '>>>', failure.answer);
  }
  if (report.crashed) lines.push('', '--- gateway output', report.crashOutput);
  process.stdout.write(`${lines.join('\n')}\n`);
}
process.exitCode = report.serverErrors > 0 || report.crashed ? 1 : 0;

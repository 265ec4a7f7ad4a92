// The settings dialog of a connection: one control per policy setting of SPEC §3 and its
// routing targets, validated as the API validates, saved as a patch of only what changed.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import {
  type Connection,
  connections,
  type Policy,
  PolicySchema,
  PROMPT_REFLECTION,
  type TargetUpdateInput,
  WORDLIST_ACTIONS,
  WORDLISTS,
  type Wordlist,
} from '../api';
import { CancelOrAct, Modal } from './Modal';
import { SpendBars } from './SpendBars';
import { fromTargetRows, type TargetRow, TargetsEditor, toTargetRows } from './TargetsEditor';

type WordlistActions = Policy['requestWordlists'];
type LimitRow = {
  per: Policy['limits'][number]['per'];
  window: Policy['limits'][number]['window'];
  requests: string;
  tokens: string;
};
type BudgetRow = { per: Policy['budgets'][number]['per']; window: Policy['budgets'][number]['window']; usd: string };

/** The form keeps numbers and lists as the text typed, so a half-typed value is not lost. */
interface Form {
  allowHeaderOverrides: boolean;
  enforceUserIds: boolean;
  maxTokens: string;
  maxPromptChars: string;
  blockedModels: string;
  allowedModels: string;
  autoModerate: boolean;
  requestWordlists: WordlistActions;
  responseWordlists: WordlistActions;
  customWordlist: string;
  promptReflection: Policy['promptReflection'];
  retryCount: string;
  upstreamTotalTimeoutMs: string;
  logRequestBody: boolean;
  logResponseBody: boolean;
  passthroughPaths: string;
  limits: LimitRow[];
  budgets: BudgetRow[];
  timezone: string;
  onStateUnavailable: Policy['onStateUnavailable'];
  defaultMaxOutputTokens: string;
}

const toForm = (p: Policy): Form => ({
  ...p,
  maxTokens: String(p.maxTokens),
  maxPromptChars: String(p.maxPromptChars),
  blockedModels: p.blockedModels.join('\n'),
  allowedModels: p.allowedModels.join('\n'),
  customWordlist: p.customWordlist.join('\n'),
  retryCount: String(p.retryCount),
  passthroughPaths: p.passthroughPaths.join('\n'),
  upstreamTotalTimeoutMs: String(p.upstreamTotalTimeoutMs),
  limits: p.limits.map((l) => ({
    per: l.per,
    window: l.window,
    requests: l.requests === undefined ? '' : String(l.requests),
    tokens: l.tokens === undefined ? '' : String(l.tokens),
  })),
  budgets: p.budgets.map((b) => ({ per: b.per, window: b.window, usd: String(b.usd) })),
  defaultMaxOutputTokens: String(p.defaultMaxOutputTokens),
});

const lines = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
const number = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

const fromForm = (f: Form): unknown => ({
  ...f,
  maxTokens: number(f.maxTokens),
  maxPromptChars: number(f.maxPromptChars),
  blockedModels: lines(f.blockedModels),
  allowedModels: lines(f.allowedModels),
  customWordlist: f.customWordlist
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean),
  retryCount: number(f.retryCount),
  passthroughPaths: lines(f.passthroughPaths),
  upstreamTotalTimeoutMs: number(f.upstreamTotalTimeoutMs),
  limits: f.limits.map((l) => ({
    per: l.per,
    window: l.window,
    ...(l.requests.trim() === '' ? {} : { requests: number(l.requests) }),
    ...(l.tokens.trim() === '' ? {} : { tokens: number(l.tokens) }),
  })),
  budgets: f.budgets.map((b) => ({ per: b.per, window: b.window, usd: number(b.usd) })),
  defaultMaxOutputTokens: number(f.defaultMaxOutputTokens),
});

/** Only the settings that differ, so a gateway that knows fewer settings accepts the save. */
function changedSettings(before: Policy, after: Policy): Partial<Policy> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(after) as (keyof Policy)[]) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) patch[key] = after[key];
  }
  return patch as Partial<Policy>;
}

/** Where the connection's requests go when it has no targets. */
function UpstreamNotice({ upstream }: { upstream: Connection['upstream'] }) {
  const describe = (u: Exclude<Connection['upstream'], string | null>) =>
    Object.entries(u)
      .filter(([name]) => name !== 'provider')
      .map(([name, value]) => `${name}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
      .join(', ');
  return (
    <p className="notice">
      Upstream (without targets):{' '}
      {upstream === null
        ? "the gateway's default"
        : typeof upstream === 'string'
          ? upstream
          : `${upstream.provider} (${describe(upstream)})`}
    </p>
  );
}

export function ConnectionSettings({ connection, onClose }: { connection: Connection; onClose(): void }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState<Form>(() => toForm(connection.policy));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [targets, setTargets] = useState<TargetRow[]>(() => toTargetRows(connection.targets));
  const [savedTargets] = useState(() => JSON.stringify(fromTargetRows(toTargetRows(connection.targets))));
  const readOnly = connection.managedBy === 'file';
  const save = useMutation({
    mutationFn: (body: { policy?: Partial<Policy>; targets?: TargetUpdateInput[] }) =>
      connections.update(connection.id, body),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['connections'] });
      onClose();
    },
  });

  const set = <K extends keyof Form>(key: K, value: Form[K]) => setForm((f) => ({ ...f, [key]: value }));
  const submit = () => {
    const parsed = PolicySchema.safeParse(fromForm(form));
    if (!parsed.success) {
      setErrors(Object.fromEntries(parsed.error.issues.map((issue) => [String(issue.path[0] ?? ''), issue.message])));
      return;
    }
    setErrors({});
    const patch = changedSettings(connection.policy, parsed.data);
    const body: { policy?: Partial<Policy>; targets?: TargetUpdateInput[] } = {};
    if (Object.keys(patch).length > 0) body.policy = patch;
    // The whole list when anything in it changed: the API replaces the targets.
    const nextTargets = fromTargetRows(targets);
    if (JSON.stringify(nextTargets) !== savedTargets) body.targets = nextTargets;
    if (Object.keys(body).length === 0) onClose();
    else save.mutate(body);
  };
  const saveError = save.isError ? (save.error instanceof Error ? save.error.message : String(save.error)) : null;
  // The API names the field it refuses (`targets.0.baseUrl: …`): a targets error shows beside them.
  const targetsError = saveError?.match(/targets\.\d/)
    ? saveError.replace(/targets\.(\d+)\.?/g, (_, i: string) => `Target ${Number(i) + 1} `)
    : null;

  const toggle = (key: keyof Form & keyof Policy, label: string, help: string) => (
    <div className="setting">
      <label className="switch">
        <input
          type="checkbox"
          role="switch"
          aria-checked={form[key] as boolean}
          disabled={readOnly}
          checked={form[key] as boolean}
          onChange={(event) => set(key, event.target.checked as never)}
        />
        {label}
      </label>
      <p className="help">{help}</p>
    </div>
  );
  const idFor = (key: keyof Form) => `setting-${key}`;
  const field = (key: keyof Form, label: string, help: string, input: React.ReactNode) => (
    <div className="setting">
      <label htmlFor={idFor(key)}>{label}</label>
      {input}
      <p className="help">{help}</p>
      {errors[key] && (
        <p className="form-error" role="alert">
          {label}: {errors[key]}
        </p>
      )}
    </div>
  );
  const numberInput = (key: 'maxTokens' | 'maxPromptChars' | 'retryCount' | 'upstreamTotalTimeoutMs', max?: number) => (
    <input
      id={idFor(key)}
      type="number"
      min={0}
      max={max}
      step={1}
      disabled={readOnly}
      value={form[key]}
      onChange={(event) => set(key, event.target.value)}
    />
  );
  const listInput = (
    key: 'blockedModels' | 'allowedModels' | 'customWordlist' | 'passthroughPaths',
    placeholder: string,
  ) => (
    <textarea
      id={idFor(key)}
      rows={3}
      disabled={readOnly}
      placeholder={placeholder}
      value={form[key]}
      onChange={(event) => set(key, event.target.value)}
    />
  );
  const wordlists = (key: 'requestWordlists' | 'responseWordlists', label: string, help: string) => (
    <fieldset className="setting">
      <legend>{label}</legend>
      <div className="wordlists">
        {WORDLISTS.map((list: Wordlist) => (
          <label key={list}>
            {list}
            <select
              aria-label={`${label}: ${list}`}
              disabled={readOnly}
              value={form[key][list] ?? ''}
              onChange={(event) => {
                const next = { ...form[key] };
                const value = event.target.value;
                if (value === '') delete next[list];
                else next[list] = value as (typeof WORDLIST_ACTIONS)[number];
                set(key, next);
              }}
            >
              <option value="">off</option>
              {WORDLIST_ACTIONS.map((action) => (
                <option key={action} value={action}>
                  {action}
                </option>
              ))}
            </select>
          </label>
        ))}
      </div>
      <p className="help">{help}</p>
    </fieldset>
  );

  const setLimit = (i: number, patch: Partial<LimitRow>) =>
    set(
      'limits',
      form.limits.map((row, at) => (at === i ? { ...row, ...patch } : row)),
    );
  const setBudget = (i: number, patch: Partial<BudgetRow>) =>
    set(
      'budgets',
      form.budgets.map((row, at) => (at === i ? { ...row, ...patch } : row)),
    );
  const options = (values: readonly string[]) =>
    values.map((value) => (
      <option key={value} value={value}>
        {value}
      </option>
    ));
  const limitsEditor = (
    <div>
      {form.limits.map((row, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div className="limit-row" key={i}>
          <select
            aria-label={`Limit ${i + 1}: per`}
            disabled={readOnly}
            value={row.per}
            onChange={(e) => setLimit(i, { per: e.target.value as LimitRow['per'] })}
          >
            {options(['connection', 'user', 'ip'])}
          </select>
          <select
            aria-label={`Limit ${i + 1}: window`}
            disabled={readOnly}
            value={row.window}
            onChange={(e) => setLimit(i, { window: e.target.value as LimitRow['window'] })}
          >
            {options(['minute', 'hour', 'day'])}
          </select>
          <input
            aria-label={`Limit ${i + 1}: requests`}
            type="number"
            min={1}
            placeholder="requests"
            disabled={readOnly}
            value={row.requests}
            onChange={(e) => setLimit(i, { requests: e.target.value })}
          />
          <input
            aria-label={`Limit ${i + 1}: tokens`}
            type="number"
            min={1}
            placeholder="tokens"
            disabled={readOnly}
            value={row.tokens}
            onChange={(e) => setLimit(i, { tokens: e.target.value })}
          />
          {!readOnly && (
            <button
              type="button"
              onClick={() =>
                set(
                  'limits',
                  form.limits.filter((_, at) => at !== i),
                )
              }
            >
              Remove
            </button>
          )}
        </div>
      ))}
      {!readOnly && (
        <button
          type="button"
          onClick={() => set('limits', [...form.limits, { per: 'user', window: 'minute', requests: '', tokens: '' }])}
        >
          Add limit
        </button>
      )}
    </div>
  );
  const budgetsEditor = (
    <div>
      {form.budgets.map((row, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place
        <div className="limit-row" key={i}>
          <select
            aria-label={`Budget ${i + 1}: per`}
            disabled={readOnly}
            value={row.per}
            onChange={(e) => setBudget(i, { per: e.target.value as BudgetRow['per'] })}
          >
            {options(['connection', 'user'])}
          </select>
          <select
            aria-label={`Budget ${i + 1}: window`}
            disabled={readOnly}
            value={row.window}
            onChange={(e) => setBudget(i, { window: e.target.value as BudgetRow['window'] })}
          >
            {options(['day', 'month', 'total'])}
          </select>
          <input
            aria-label={`Budget ${i + 1}: USD`}
            type="number"
            min={0}
            step="any"
            placeholder="USD"
            disabled={readOnly}
            value={row.usd}
            onChange={(e) => setBudget(i, { usd: e.target.value })}
          />
          {!readOnly && (
            <button
              type="button"
              onClick={() =>
                set(
                  'budgets',
                  form.budgets.filter((_, at) => at !== i),
                )
              }
            >
              Remove
            </button>
          )}
        </div>
      ))}
      {!readOnly && (
        <button
          type="button"
          onClick={() => set('budgets', [...form.budgets, { per: 'connection', window: 'month', usd: '' }])}
        >
          Add budget
        </button>
      )}
    </div>
  );

  return (
    <Modal
      title={`Settings: ${connection.name}`}
      onClose={onClose}
      wide
      footer={
        readOnly ? (
          <button type="button" onClick={onClose}>
            Close
          </button>
        ) : (
          <CancelOrAct label="Save" busy={save.isPending} onCancel={onClose} onAct={submit} />
        )
      }
    >
      {readOnly && (
        <p className="notice">This connection is declared in the config file: change it there. Shown read-only.</p>
      )}
      {saveError && !targetsError && (
        <p className="form-error" role="alert">
          {saveError}
        </p>
      )}
      {Object.keys(errors).length > 0 && (
        <p className="form-error" role="alert">
          Some settings are not valid; see below.
        </p>
      )}
      {targets.length === 0 && <UpstreamNotice upstream={connection.upstream} />}
      <TargetsEditor rows={targets} readOnly={readOnly} error={targetsError} onChange={setTargets} />
      <div className="settings-grid">
        {toggle(
          'enforceUserIds',
          'Enforce User IDs',
          'Block requests without a user field (header x-usagepanda-enforce-user-ids).',
        )}
        {toggle(
          'allowHeaderOverrides',
          'Allow header overrides',
          'When off, an x-usagepanda-* header that would loosen this policy is refused with 422.',
        )}
        {field(
          'maxTokens',
          'Max tokens',
          'Block requests asking for more output tokens, or not saying how many. 0 turns it off.',
          numberInput('maxTokens'),
        )}
        {field(
          'maxPromptChars',
          'Max prompt characters',
          'Block prompts longer than this many characters. 0 turns it off.',
          numberInput('maxPromptChars'),
        )}
        {field(
          'blockedModels',
          'Blocked models',
          'One model name or image size (like 1024x1024) per line.',
          listInput('blockedModels', 'gpt-4\n1024x1024'),
        )}
        {field(
          'allowedModels',
          'Allowed models',
          'One model per line; empty allows every model.',
          listInput('allowedModels', 'gpt-4o-mini'),
        )}
        {toggle(
          'autoModerate',
          'Auto-moderation',
          "Check the user's text with the moderation endpoint first; block what it flags.",
        )}
        {wordlists(
          'requestWordlists',
          'Request wordlists',
          'Per list: audit flags, redact replaces matches with ****, block refuses the request.',
        )}
        {wordlists('responseWordlists', 'Response wordlists', 'The same, applied to the answer (streams too).')}
        {field(
          'customWordlist',
          'Custom wordlist',
          'Up to 100 words or phrases, one per line, used by the "custom" list.',
          listInput('customWordlist', 'project codename'),
        )}
        {field(
          'promptReflection',
          'Prompt reflection',
          'Text marked ||like this|| in the prompt must not appear in the answer.',
          <select
            id={idFor('promptReflection')}
            disabled={readOnly}
            value={form.promptReflection}
            onChange={(event) => set('promptReflection', event.target.value as Policy['promptReflection'])}
          >
            {PROMPT_REFLECTION.map((mode) => (
              <option key={mode} value={mode}>
                {mode}
              </option>
            ))}
          </select>,
        )}
        {field(
          'retryCount',
          'Retry count',
          'Retry upstream network errors, 429 and 5xx up to this many times (0 to 5).',
          numberInput('retryCount', 5),
        )}
        {field(
          'passthroughPaths',
          'Passthrough paths',
          'While any content setting above is on, requests the gateway cannot read (assistants, vector stores, uploads other than batch files…) are refused with 422. One path prefix per line, like /assistants, forwards those unread.',
          listInput('passthroughPaths', '/assistants\n/vector_stores'),
        )}
        {field(
          'upstreamTotalTimeoutMs',
          'Total upstream timeout (ms)',
          "Every upstream attempt together, to the answer's last byte; 0 = the gateway's setting (15 minutes by default).",
          numberInput('upstreamTotalTimeoutMs'),
        )}
        {toggle('logRequestBody', 'Log request bodies', 'Store request bodies with the log record.')}
        {toggle(
          'logResponseBody',
          'Log response bodies',
          'Store response bodies with the log record (embedding vectors never).',
        )}
        {field(
          'limits',
          'Rate limits',
          'Requests and/or tokens per minute, hour or day, per connection, end user or client IP. Over a limit: 429.',
          limitsEditor,
        )}
        {field(
          'budgets',
          'Budgets',
          'USD per day, month or in total, per connection or end user. A request reserves its worst case first, so concurrent requests cannot overshoot.',
          budgetsEditor,
        )}
        {field(
          'timezone',
          'Time zone',
          'Where budget days and months (and day limits) begin, e.g. Europe/Berlin.',
          <input
            id={idFor('timezone')}
            disabled={readOnly}
            value={form.timezone}
            onChange={(event) => set('timezone', event.target.value)}
          />,
        )}
        {field(
          'onStateUnavailable',
          'When limits are unavailable',
          'With Redis unreachable: deny answers 503; allow serves the request unlimited and flags it.',
          <select
            id={idFor('onStateUnavailable')}
            disabled={readOnly}
            value={form.onStateUnavailable}
            onChange={(event) => set('onStateUnavailable', event.target.value as Policy['onStateUnavailable'])}
          >
            {options(['deny', 'allow'])}
          </select>,
        )}
        {field(
          'defaultMaxOutputTokens',
          'Default max output tokens',
          'What a budget reserves for the answer when neither the request nor the price data says.',
          <input
            id={idFor('defaultMaxOutputTokens')}
            type="number"
            min={1}
            step={1}
            disabled={readOnly}
            value={form.defaultMaxOutputTokens}
            onChange={(event) => set('defaultMaxOutputTokens', event.target.value)}
          />,
        )}
      </div>
      <SpendBars connection={connection.id} />
    </Modal>
  );
}

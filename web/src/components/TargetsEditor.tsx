// A connection's routing targets in the settings dialog: an ordered list to add to, remove
// from and reorder, each showing the fields its provider uses (docs/providers.md). Secrets
// are write-only: a stored one shows as "stored", and an empty field keeps it (the target
// names where it was loaded from in `keepSecretsOf`).
import { PROVIDERS, type ProviderName, type TargetUpdateInput, type TargetView } from '../api';

interface Pair {
  from: string;
  to: string;
}

/** One target as the form holds it: text as typed, secrets only when newly typed. */
export interface TargetRow {
  provider: ProviderName;
  baseUrl: string;
  apiKey: string;
  apiVersion: string;
  deployments: Pair[];
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  weight: string;
  models: string;
  modelMap: Pair[];
  /** The index among the connection's stored targets this row was loaded from, while its provider is unchanged. */
  storedAt?: number;
  hasApiKey: boolean;
  hasSecretAccessKey: boolean;
}

/** Which fields each provider reads (docs/providers.md); routing fields are everyone's. */
const FIELDS: Record<ProviderName, { apiKey: boolean; apiVersion: boolean; deployments: boolean; aws: boolean }> = {
  openai: { apiKey: true, apiVersion: false, deployments: false, aws: false },
  azure: { apiKey: true, apiVersion: true, deployments: true, aws: false },
  anthropic: { apiKey: true, apiVersion: false, deployments: false, aws: false },
  gemini: { apiKey: true, apiVersion: false, deployments: false, aws: false },
  bedrock: { apiKey: false, apiVersion: false, deployments: false, aws: true },
};

const isProvider = (name: string): name is ProviderName => (PROVIDERS as readonly string[]).includes(name);
const pairsOf = (map: Record<string, string> | undefined): Pair[] =>
  Object.entries(map ?? {}).map(([from, to]) => ({ from, to }));

export const emptyTarget = (provider: ProviderName = 'openai'): TargetRow => ({
  provider,
  baseUrl: '',
  apiKey: '',
  apiVersion: '',
  deployments: [],
  region: '',
  accessKeyId: '',
  secretAccessKey: '',
  weight: '',
  models: '',
  modelMap: [],
  hasApiKey: false,
  hasSecretAccessKey: false,
});

export const toTargetRows = (targets: readonly TargetView[]): TargetRow[] =>
  targets.map((t, index) => ({
    ...emptyTarget(isProvider(t.provider) ? t.provider : 'openai'),
    baseUrl: t.baseUrl ?? '',
    apiVersion: t.apiVersion ?? '',
    deployments: pairsOf(t.deployments),
    region: t.region ?? '',
    accessKeyId: t.accessKeyId ?? '',
    weight: t.weight === undefined ? '' : String(t.weight),
    models: (t.models ?? []).join(', '),
    modelMap: pairsOf(t.modelMap),
    storedAt: index,
    hasApiKey: t.hasApiKey === true,
    hasSecretAccessKey: t.hasSecretAccessKey === true,
  }));

const mapOf = (pairs: Pair[]) => {
  const filled = pairs.filter((p) => p.from.trim() !== '' || p.to.trim() !== '');
  return filled.length ? Object.fromEntries(filled.map((p) => [p.from.trim(), p.to.trim()])) : undefined;
};
const text = (value: string) => (value.trim() === '' ? undefined : value.trim());

/** The targets as PATCH /api/connections/:id takes them; only the fields the provider reads, the API validates. */
export const fromTargetRows = (rows: readonly TargetRow[]): TargetUpdateInput[] =>
  rows.map((row) => {
    const fields = FIELDS[row.provider];
    const models = row.models
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    const target = {
      provider: row.provider,
      baseUrl: text(row.baseUrl),
      apiKey: fields.apiKey && row.apiKey !== '' ? row.apiKey : undefined,
      apiVersion: fields.apiVersion ? text(row.apiVersion) : undefined,
      deployments: fields.deployments ? mapOf(row.deployments) : undefined,
      region: fields.aws ? text(row.region) : undefined,
      accessKeyId: fields.aws ? text(row.accessKeyId) : undefined,
      secretAccessKey: fields.aws && row.secretAccessKey !== '' ? row.secretAccessKey : undefined,
      weight: row.weight.trim() === '' ? undefined : Number(row.weight),
      models: models.length ? models : undefined,
      modelMap: mapOf(row.modelMap),
      keepSecretsOf: row.storedAt,
    };
    // Absent, not undefined: JSON drops them either way, but the comparison of saves stays exact.
    return Object.fromEntries(Object.entries(target).filter(([, v]) => v !== undefined)) as TargetUpdateInput;
  });

function PairsEditor({
  label,
  pairs,
  fromLabel,
  toLabel,
  disabled,
  onChange,
}: {
  label: string;
  pairs: Pair[];
  fromLabel: string;
  toLabel: string;
  disabled: boolean;
  onChange(pairs: Pair[]): void;
}) {
  const setPair = (i: number, patch: Partial<Pair>) =>
    onChange(pairs.map((pair, at) => (at === i ? { ...pair, ...patch } : pair)));
  return (
    <div className="target-pairs">
      <span>{label}</span>
      {pairs.map((pair, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: pairs have no identity but their place
        <div className="limit-row" key={i}>
          <input
            aria-label={`${label} ${i + 1}: ${fromLabel}`}
            placeholder={fromLabel}
            disabled={disabled}
            value={pair.from}
            onChange={(e) => setPair(i, { from: e.target.value })}
          />
          →
          <input
            aria-label={`${label} ${i + 1}: ${toLabel}`}
            placeholder={toLabel}
            disabled={disabled}
            value={pair.to}
            onChange={(e) => setPair(i, { to: e.target.value })}
          />
          {!disabled && (
            <button type="button" onClick={() => onChange(pairs.filter((_, at) => at !== i))}>
              Remove
            </button>
          )}
        </div>
      ))}
      {!disabled && (
        <button type="button" onClick={() => onChange([...pairs, { from: '', to: '' }])}>
          Add {label.toLowerCase()} entry
        </button>
      )}
    </div>
  );
}

export function TargetsEditor({
  rows,
  readOnly,
  error,
  onChange,
}: {
  rows: TargetRow[];
  readOnly: boolean;
  /** The API's answer to the last save when it names a target. */
  error: string | null;
  onChange(rows: TargetRow[]): void;
}) {
  const setRow = (i: number, patch: Partial<TargetRow>) =>
    onChange(rows.map((row, at) => (at === i ? { ...row, ...patch } : row)));
  const move = (i: number, by: -1 | 1) => {
    const next = [...rows];
    const [row] = next.splice(i, 1);
    if (row) next.splice(i + by, 0, row);
    onChange(next);
  };
  return (
    <fieldset className="setting targets">
      <legend>Targets</legend>
      <p className="help">
        Tried in order: the first serving the request's model, a weighted draw among weighted ones, the next on a
        connection error, timeout, 429 or 5xx. With none, requests go to the connection's upstream. See
        docs/providers.md.
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <ol className="target-list">
        {rows.map((row, i) => {
          const fields = FIELDS[row.provider];
          const name = `Target ${i + 1}`;
          const input = (
            key: 'baseUrl' | 'apiVersion' | 'region' | 'accessKeyId' | 'weight',
            label: string,
            placeholder = '',
          ) => (
            <label>
              {label}
              <input
                aria-label={`${name}: ${label}`}
                placeholder={placeholder}
                disabled={readOnly}
                type={key === 'weight' ? 'number' : 'text'}
                min={key === 'weight' ? 0 : undefined}
                step={key === 'weight' ? 'any' : undefined}
                value={row[key]}
                onChange={(e) => setRow(i, { [key]: e.target.value })}
              />
            </label>
          );
          const secret = (key: 'apiKey' | 'secretAccessKey', label: string, stored: boolean) => (
            <label>
              {label}
              <span className="key-row">
                <input
                  aria-label={`${name}: ${label}`}
                  type="password"
                  autoComplete="off"
                  placeholder={stored ? 'stored — empty keeps it' : 'not set'}
                  disabled={readOnly}
                  value={row[key]}
                  onChange={(e) => setRow(i, { [key]: e.target.value })}
                />
                {stored && !readOnly && (
                  // A provider's target has one secret (Bedrock's is its AWS secret): keeping none forgets it.
                  <button
                    type="button"
                    aria-label={`${name}: forget the stored ${label.toLowerCase()}`}
                    onClick={() => setRow(i, { storedAt: undefined, hasApiKey: false, hasSecretAccessKey: false })}
                  >
                    Forget
                  </button>
                )}
              </span>
            </label>
          );
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: targets are an ordered list without ids
            <li key={i} className="target" aria-label={name}>
              <div className="limit-row">
                <select
                  aria-label={`${name}: provider`}
                  disabled={readOnly}
                  value={row.provider}
                  onChange={(e) =>
                    // Another provider cannot keep this one's stored secrets.
                    setRow(i, {
                      provider: e.target.value as ProviderName,
                      storedAt: undefined,
                      hasApiKey: false,
                      hasSecretAccessKey: false,
                    })
                  }
                >
                  {PROVIDERS.map((p) => (
                    <option key={p} value={p}>
                      {p}
                    </option>
                  ))}
                </select>
                {!readOnly && (
                  <>
                    <button
                      type="button"
                      disabled={i === 0}
                      onClick={() => move(i, -1)}
                      aria-label={`${name}: move up`}
                    >
                      ↑
                    </button>
                    <button
                      type="button"
                      disabled={i === rows.length - 1}
                      onClick={() => move(i, 1)}
                      aria-label={`${name}: move down`}
                    >
                      ↓
                    </button>
                    <button
                      type="button"
                      onClick={() => onChange(rows.filter((_, at) => at !== i))}
                      aria-label={`${name}: remove`}
                    >
                      Remove
                    </button>
                  </>
                )}
              </div>
              <div className="target-fields">
                {input(
                  'baseUrl',
                  'Base URL',
                  row.provider === 'azure' ? 'https://<resource>.openai.azure.com' : "provider's default",
                )}
                {fields.apiKey && secret('apiKey', 'API key', row.hasApiKey)}
                {fields.apiVersion && input('apiVersion', 'API version', '2024-10-21')}
                {fields.aws && input('region', 'Region', 'us-east-1')}
                {fields.aws && input('accessKeyId', 'Access key ID')}
                {fields.aws && secret('secretAccessKey', 'Secret access key', row.hasSecretAccessKey)}
                {input('weight', 'Weight', '1')}
                <label>
                  Models
                  <input
                    aria-label={`${name}: Models`}
                    placeholder="every model; or gpt-4o-mini, claude-*"
                    disabled={readOnly}
                    value={row.models}
                    onChange={(e) => setRow(i, { models: e.target.value })}
                  />
                </label>
              </div>
              {fields.deployments && (
                <PairsEditor
                  label="Deployments"
                  fromLabel="model"
                  toLabel="deployment"
                  pairs={row.deployments}
                  disabled={readOnly}
                  onChange={(deployments) => setRow(i, { deployments })}
                />
              )}
              <PairsEditor
                label="Model map"
                fromLabel="request model"
                toLabel="provider model"
                pairs={row.modelMap}
                disabled={readOnly}
                onChange={(modelMap) => setRow(i, { modelMap })}
              />
            </li>
          );
        })}
      </ol>
      {!readOnly && (
        <button type="button" onClick={() => onChange([...rows, emptyTarget()])}>
          Add target
        </button>
      )}
    </fieldset>
  );
}

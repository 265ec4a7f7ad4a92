// A connection's upstream and routing targets at the boundary: their schema (admin API and
// config file), sealing their secrets for storage, and the view a client may see (no secrets).
import { z } from 'zod';
import { PROVIDERS, type ProviderUpstream, type UpstreamTarget } from '../domain.js';
import { badRequest } from '../errors.js';
import type { SecretBox } from '../secrets/cipher.js';

export const UpstreamUrl = z.url({
  protocol: /^https?$/,
  error: 'expected an http(s) URL such as https://api.openai.com/v1',
});

const ModelName = z.string().trim().min(1).max(200);

/** A provider's upstream as a client declares it, secrets in plain text. */
const ProviderUpstreamFields = z
  .object({
    provider: z.enum(PROVIDERS),
    baseUrl: UpstreamUrl.optional(),
    apiKey: z.string().min(1).optional(),
    apiVersion: z.string().min(1).max(40).optional(),
    deployments: z.record(ModelName, z.string().trim().min(1).max(200)).optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as us-east-1')
      .optional(),
    accessKeyId: z.string().min(1).max(128).optional(),
    secretAccessKey: z.string().min(1).optional(),
  })
  .strict();

const bedrockCredentialsTogether = (
  upstream: { accessKeyId?: string; secretAccessKey?: string },
  ctx: z.RefinementCtx,
) => {
  if ((upstream.accessKeyId === undefined) !== (upstream.secretAccessKey === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['secretAccessKey'],
      message: 'give accessKeyId and secretAccessKey together',
    });
  }
};

export const ProviderUpstreamSchema = ProviderUpstreamFields.superRefine(bedrockCredentialsTogether);
export type ProviderUpstreamInput = z.infer<typeof ProviderUpstreamSchema>;

/** `upstream`: an OpenAI-compatible base URL, or a provider's upstream. */
export const UpstreamSchema = z.union([UpstreamUrl, ProviderUpstreamSchema]);
export type UpstreamInput = z.infer<typeof UpstreamSchema>;

/** A target's routing fields beside its upstream's. */
const TargetFields = ProviderUpstreamFields.extend({
  weight: z.number().positive().max(1_000_000).optional(),
  models: z
    .array(ModelName.refine((m) => !m.slice(0, -1).includes('*'), 'only a trailing * is allowed'))
    .min(1)
    .optional(),
  modelMap: z.record(ModelName, ModelName).optional(),
});

/** One routing target: a provider's upstream (or a base URL) and which models it serves. */
export const TargetSchema = z.union([UpstreamUrl, TargetFields.superRefine(bedrockCredentialsTogether)]);
export type TargetInput = z.infer<typeof TargetSchema>;

export const TargetsSchema = z.array(TargetSchema).max(20);

/**
 * A target in `PATCH /api/connections/:id`: `keepSecretsOf` names the connection's current
 * target (by index) whose stored `apiKey` and `secretAccessKey` it keeps where it gives none,
 * so a client that never sees the secrets can reorder and edit targets without resending them.
 */
export const TargetUpdateSchema = z.union([
  UpstreamUrl,
  TargetFields.extend({ keepSecretsOf: z.number().int().min(0).optional() }).superRefine((target, ctx) => {
    // A kept secret may stand in for the one not given; sealTargetsKeeping checks it is there.
    if (target.keepSecretsOf === undefined) bedrockCredentialsTogether(target, ctx);
  }),
]);
export type TargetUpdateInput = z.infer<typeof TargetUpdateSchema>;

export const TargetsUpdateSchema = z.array(TargetUpdateSchema).max(20);

type Sealed<T> = Omit<T, 'apiKey' | 'secretAccessKey'> & {
  apiKeyEncrypted?: string;
  secretAccessKeyEncrypted?: string;
};

/** A provider's upstream with its secrets encrypted, as the store keeps it. */
export function sealUpstream<T extends ProviderUpstreamInput>(input: T, box: SecretBox): Sealed<T> {
  const { apiKey, secretAccessKey, ...rest } = input;
  return {
    ...rest,
    ...(apiKey === undefined ? {} : { apiKeyEncrypted: box.encrypt(apiKey) }),
    ...(secretAccessKey === undefined ? {} : { secretAccessKeyEncrypted: box.encrypt(secretAccessKey) }),
  };
}

/** Targets as stored: a base URL becomes an OpenAI-compatible provider's upstream. */
export function sealTargets(targets: TargetInput[], box: SecretBox): UpstreamTarget[] {
  return targets.map((target) =>
    typeof target === 'string' ? { provider: 'openai', baseUrl: target } : sealUpstream(target, box),
  );
}

/**
 * Targets of an update as stored: each that names `keepSecretsOf` keeps that current target's
 * sealed secrets where it gives none (the AWS secret only with an access key id). The kept
 * target must exist and have the same provider.
 */
export function sealTargetsKeeping(
  targets: TargetUpdateInput[],
  current: readonly UpstreamTarget[],
  box: SecretBox,
): UpstreamTarget[] {
  return targets.map((target, i) => {
    if (typeof target === 'string') return { provider: 'openai', baseUrl: target };
    const { keepSecretsOf, ...given } = target;
    const sealed: UpstreamTarget = sealUpstream(given, box);
    if (keepSecretsOf === undefined) return sealed;
    const where = `targets.${i}.keepSecretsOf`;
    const kept = current[keepSecretsOf];
    if (!kept) throw badRequest(`${where}: the connection has no target ${keepSecretsOf}`);
    if (kept.provider !== target.provider) {
      throw badRequest(`${where}: target ${keepSecretsOf} has provider ${kept.provider}, not ${target.provider}`);
    }
    if (sealed.apiKeyEncrypted === undefined && kept.apiKeyEncrypted !== undefined) {
      sealed.apiKeyEncrypted = kept.apiKeyEncrypted;
    }
    // The secret belongs to its access key id: a target that drops the id drops the secret too.
    if (
      sealed.secretAccessKeyEncrypted === undefined &&
      sealed.accessKeyId !== undefined &&
      kept.secretAccessKeyEncrypted !== undefined
    ) {
      sealed.secretAccessKeyEncrypted = kept.secretAccessKeyEncrypted;
    }
    if ((sealed.accessKeyId === undefined) !== (sealed.secretAccessKeyEncrypted === undefined)) {
      throw badRequest(`targets.${i}.secretAccessKey: give accessKeyId and secretAccessKey together`);
    }
    return sealed;
  });
}

/** A stored upstream as a client may see it: whether secrets are set, never their values. */
export function publicUpstream<T extends ProviderUpstream>(upstream: T) {
  const { apiKeyEncrypted, secretAccessKeyEncrypted, ...rest } = upstream;
  return {
    ...rest,
    hasApiKey: apiKeyEncrypted !== undefined,
    ...(upstream.provider === 'bedrock' ? { hasSecretAccessKey: secretAccessKeyEncrypted !== undefined } : {}),
  };
}

/** The stored upstream, its secrets decrypted, to compare with what a config file declares. */
export function openUpstream<T extends ProviderUpstream>(
  upstream: T,
  box: SecretBox,
): Omit<T, 'apiKeyEncrypted' | 'secretAccessKeyEncrypted'> & { apiKey?: string; secretAccessKey?: string } {
  const { apiKeyEncrypted, secretAccessKeyEncrypted, ...rest } = upstream;
  return {
    ...rest,
    ...(apiKeyEncrypted === undefined ? {} : { apiKey: box.decrypt(apiKeyEncrypted) }),
    ...(secretAccessKeyEncrypted === undefined ? {} : { secretAccessKey: box.decrypt(secretAccessKeyEncrypted) }),
  };
}

// Blocked models: refuses listed model names and image sizes. Not overridable by header.
import type { Exchange } from '../exchange.js';
import { definePolicy } from './policy.js';

export const DISABLED_MODELS_FLAG_TYPE = 'policy_disabled_models';

/** Blocks the model once, even when both the block list and the allow list refuse it. */
export function blockModel(ex: Exchange, model: string): void {
  const description = `Config set to block usage of model: ${model}`;
  if (ex.flags.some((flag) => flag.description === description)) return;
  ex.flag({ type: DISABLED_MODELS_FLAG_TYPE, description }, { block: true });
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export const blockedModels = definePolicy({
  setting: 'blockedModels',
  endpoints: 'all',
  isOn: (list) => list.length > 0,
  loosens: () => false,
  onRequest(ex, list) {
    if (ex.model && list.some((blocked) => sameName(blocked, ex.model as string))) blockModel(ex, ex.model);
    // Image requests name their size in JSON or as a multipart field.
    const size = ex.operation === 'image' ? ex.field('size') : undefined;
    if (size && list.some((blocked) => sameName(blocked, size))) {
      ex.flag(
        { type: DISABLED_MODELS_FLAG_TYPE, description: `Config set to block usage of image generation size: ${size}` },
        { block: true },
      );
    }
  },
});

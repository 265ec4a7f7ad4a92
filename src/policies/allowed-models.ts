// Allowed models: when the list is not empty, only these models may be used. Not overridable.
import { blockModel } from './blocked-models.js';
import { definePolicy } from './policy.js';

export const allowedModels = definePolicy({
  setting: 'allowedModels',
  endpoints: 'all',
  isOn: (list) => list.length > 0,
  loosens: () => false,
  onRequest(ex, list) {
    // Requests without a model (listing models, files) are not model usage.
    if (!ex.model) return;
    const model = ex.model.toLowerCase();
    if (!list.some((allowed) => allowed.toLowerCase() === model)) blockModel(ex, ex.model);
  },
});

// Log request / response bodies: whether the record keeps the bodies. The proxy reads the
// resolved settings itself (proxy/bodies.ts); these modules declare the settings and headers.
import { booleanHeader, definePolicy } from './policy.js';

export const logRequestBody = definePolicy({
  setting: 'logRequestBody',
  header: 'x-usagepanda-log-request',
  headerSchema: booleanHeader,
  endpoints: 'all',
  isOn: () => false,
  // Keeping or not keeping a body loosens no rule.
  loosens: () => false,
});

export const logResponseBody = definePolicy({
  setting: 'logResponseBody',
  header: 'x-usagepanda-log-response',
  headerSchema: booleanHeader,
  endpoints: 'all',
  isOn: () => false,
  loosens: () => false,
});

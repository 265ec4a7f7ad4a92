// Log request / response bodies: whether the record keeps the bodies. The proxy reads the
// resolved settings itself (proxy/bodies.ts); these modules declare the settings and headers.
import { booleanHeader, definePolicy, loosensBoolean } from './policy.js';

export const logRequestBody = definePolicy({
  setting: 'logRequestBody',
  header: 'x-usagepanda-log-request',
  headerSchema: booleanHeader,
  endpoints: 'all',
  isOn: () => false,
  // The log is how the operator audits what was sent: hiding a body the connection keeps
  // loosens it; keeping one it does not is allowed.
  loosens: loosensBoolean,
});

export const logResponseBody = definePolicy({
  setting: 'logResponseBody',
  header: 'x-usagepanda-log-response',
  headerSchema: booleanHeader,
  endpoints: 'all',
  isOn: () => false,
  loosens: loosensBoolean,
});

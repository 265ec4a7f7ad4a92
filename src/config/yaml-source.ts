// A YAML config file as data plus where each value sits in it, so that every problem found
// later (a missing environment variable, a zod issue) can be reported as `file:line: field`.
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

export type FieldPath = readonly PropertyKey[];

export interface YamlSource {
  data: unknown;
  /** The 1-based line of the field at `path`, or of its nearest ancestor present in the file. */
  lineOf(path: FieldPath): number;
}

/** Parses YAML text; throws the yaml library's parse error (its message carries the line). */
export function parseYamlSource(text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const [error] = doc.errors;
  if (error) throw error;
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  return {
    data: doc.toJS() ?? {},
    lineOf(path) {
      let node: unknown = doc.contents;
      let line = 1;
      for (const segment of path) {
        if (isMap(node)) {
          const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
          if (!pair) break;
          // The key's line: a nested map or list as value starts on the next line.
          if (isScalar(pair.key) && pair.key.range) line = lineAt(pair.key.range[0]);
          node = pair.value;
        } else if (isSeq(node) && typeof segment === 'number') {
          const item: unknown = node.items[segment];
          if (!item) break;
          const range = (item as Node).range;
          if (range) line = lineAt(range[0]);
          node = item;
        } else {
          break;
        }
      }
      return line;
    },
  };
}

/** `connections[0].policy.maxTokens`, as a person would write the field. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out || '(root)';
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface MissingVariable {
  path: FieldPath;
  name: string;
}

/**
 * Replaces every `${NAME}` inside string values with the environment variable, so secrets
 * stay out of the file. Returns the data and the references that name no set variable.
 */
export function expandEnvReferences(
  data: unknown,
  env: NodeJS.ProcessEnv,
): { data: unknown; missing: MissingVariable[] } {
  const missing: MissingVariable[] = [];
  const expand = (value: unknown, path: PropertyKey[]): unknown => {
    if (typeof value === 'string') {
      return value.replace(ENV_REFERENCE, (_match, name: string) => {
        const found = env[name];
        if (found === undefined || found === '') {
          missing.push({ path, name });
          return '';
        }
        return found;
      });
    }
    if (Array.isArray(value)) return value.map((item, index) => expand(item, [...path, index]));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expand(item, [...path, key])]));
    }
    return value;
  };
  return { data: expand(data, []), missing };
}

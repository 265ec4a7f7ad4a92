// The layers of src/: no import cycle between its folders (and top-level modules), and the
// OpenAI wire format a leaf that the rest may import.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** A module's layer: its folder under src/ (providers/<name> for providers), or its own name at the top. */
function layerOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  if (parts.length === 1) return (parts[0] ?? '').replace(/\.ts$/, '');
  return parts[0] === 'providers' ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

/** layer → the layers it imports (type imports included: they tie the layers as much). */
function layerImports(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const targets = graph.get(from) ?? new Set<string>();
    graph.set(from, targets);
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const target = normalize(join(dirname(file), (match[1] ?? '').replace(/\.js$/, '.ts')));
      const to = layerOf(target);
      if (to !== from) targets.add(to);
    }
  }
  return graph;
}

/** One cycle through the graph as a path of layers, or null. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (layer: string): string[] | null => {
    if (state.get(layer) === 'open') return [...path.slice(path.indexOf(layer)), layer];
    if (state.get(layer) === 'done') return null;
    state.set(layer, 'open');
    path.push(layer);
    for (const next of graph.get(layer) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(layer, 'done');
    return null;
  };
  for (const layer of graph.keys()) {
    const cycle = visit(layer);
    if (cycle) return cycle;
  }
  return null;
}

describe('the layers of src/', () => {
  it('have no import cycle between folders', () => {
    expect(findCycle(layerImports())).toBeNull();
  });

  it('keep the OpenAI wire format a leaf: wire imports only the domain words', () => {
    expect([...(layerImports().get('wire') ?? [])]).toEqual(['domain']);
  });

  it('find a cycle when there is one (the check can fail)', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(findCycle(graph)).toEqual(['a', 'b', 'c', 'a']);
  });
});

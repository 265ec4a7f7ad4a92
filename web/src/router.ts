// Hash routing (`#/logs?user=alice`), so the gateway serves the whole app at `/` and
// every page keeps its filters in a link that can be shared or reloaded.
import { useCallback, useSyncExternalStore } from 'react';

export interface Route {
  page: string;
  params: URLSearchParams;
}

function readHash(): Route {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [page = '', query = ''] = hash.split('?');
  return { page, params: new URLSearchParams(query) };
}

const subscribe = (notify: () => void) => {
  window.addEventListener('hashchange', notify);
  return () => window.removeEventListener('hashchange', notify);
};

export function hrefFor(page: string, params: Record<string, string | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
  const text = query.toString();
  return `#/${page}${text ? `?${text}` : ''}`;
}

export function useRoute(): Route & { setParams(changes: Record<string, string | undefined | null>): void } {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  const route = readHash();
  // biome-ignore lint/correctness/useExhaustiveDependencies: the hash is what the route is read from
  const setParams = useCallback(
    (changes: Record<string, string | undefined | null>) => {
      const current = readHash();
      const next: Record<string, string | null> = Object.fromEntries(current.params);
      Object.assign(next, changes);
      window.location.hash = hrefFor(current.page, next);
    },
    [hash],
  );
  return { ...route, setParams };
}

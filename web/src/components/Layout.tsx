// The frame of every page: the product name, the navigation and signing out.
import type { ReactNode } from 'react';
import { hrefFor } from '../router';
import { PandaMark } from './PandaMark';

export const PAGES = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'connections', label: 'Connections' },
  { id: 'logs', label: 'Logs' },
  { id: 'users', label: 'End-User Tracking' },
  { id: 'autoreplies', label: 'Auto-Replies' },
  { id: 'alerts', label: 'Alerts' },
  { id: 'edges', label: 'Edges' },
] as const;
export type PageId = (typeof PAGES)[number]['id'];

export function Layout({ page, onSignOut, children }: { page: PageId; onSignOut(): void; children: ReactNode }) {
  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href={hrefFor('dashboard')}>
          <PandaMark /> Usage Panda
        </a>
        <nav aria-label="Pages">
          {PAGES.map((p) => (
            <a key={p.id} href={hrefFor(p.id)} aria-current={p.id === page ? 'page' : undefined}>
              {p.label}
            </a>
          ))}
        </nav>
        <button type="button" className="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>{children}</main>
    </div>
  );
}

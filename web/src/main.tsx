// The dashboard's entry: checks the session, then shows the sign-in page or the app.
import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ComponentType, lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, session, setSignedOutHandler } from './api';
import { Layout, PAGES, type PageId } from './components/Layout';
import { ErrorState, Loading } from './components/States';
import { SignInPage } from './pages/SignIn';
import { useRoute } from './router';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change by asking again; a network blip might.
      retry: (failures, error) => !(error instanceof ApiError && error.status < 500) && failures < 2,
      refetchOnWindowFocus: false,
    },
  },
});

// Each page is its own chunk, so signing in and the first page load only what they show
// (the charts library is needed by the Dashboard alone).
const page = <K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K) =>
  lazy(async () => ({ default: (await load())[name] }));
const PAGE_COMPONENTS: Record<PageId, ComponentType> = {
  dashboard: page(() => import('./pages/Dashboard'), 'DashboardPage'),
  connections: page(() => import('./pages/Connections'), 'ConnectionsPage'),
  logs: page(() => import('./pages/Logs'), 'LogsPage'),
  users: page(() => import('./pages/Users'), 'UsersPage'),
  autoreplies: page(() => import('./pages/AutoReplies'), 'AutoRepliesPage'),
  alerts: page(() => import('./pages/Alerts'), 'AlertsPage'),
  edges: page(() => import('./pages/Edges'), 'EdgesPage'),
};

function App() {
  const client = useQueryClient();
  const sessionQuery = useQuery({ queryKey: ['session'], queryFn: session.check, staleTime: Number.POSITIVE_INFINITY });
  const [signedIn, setSignedIn] = useState<boolean | null>(null);
  const route = useRoute();

  useEffect(() => {
    if (sessionQuery.data !== undefined) setSignedIn(sessionQuery.data);
  }, [sessionQuery.data]);
  useEffect(() => {
    setSignedOutHandler(() => {
      setSignedIn(false);
      client.clear();
    });
  }, [client]);

  if (sessionQuery.isError) return <ErrorState error={sessionQuery.error} what="the session" />;
  if (signedIn === null) return <Loading what="Usage Panda" />;
  if (!signedIn) return <SignInPage onSignedIn={() => setSignedIn(true)} />;

  const pageId: PageId = PAGES.some((p) => p.id === route.page) ? (route.page as PageId) : 'dashboard';
  const Page = PAGE_COMPONENTS[pageId];
  const signOut = async () => {
    await session.signOut();
    client.clear();
    setSignedIn(false);
  };
  return (
    <Layout page={pageId} onSignOut={() => void signOut()}>
      <Suspense fallback={<Loading what="the page" />}>
        <Page />
      </Suspense>
    </Layout>
  );
}

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
}

// The dashboard's entry: checks the session, then shows the sign-in page or the app.
import { QueryClient, QueryClientProvider, useQuery, useQueryClient } from '@tanstack/react-query';
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, session, setSignedOutHandler } from './api';
import { Layout, PAGES, type PageId } from './components/Layout';
import { ErrorState, Loading } from './components/States';
import { AlertsPage } from './pages/Alerts';
import { AutoRepliesPage } from './pages/AutoReplies';
import { ConnectionsPage } from './pages/Connections';
import { DashboardPage } from './pages/Dashboard';
import { LogsPage } from './pages/Logs';
import { SignInPage } from './pages/SignIn';
import { UsersPage } from './pages/Users';
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

const PAGE_COMPONENTS: Record<PageId, () => React.JSX.Element> = {
  dashboard: DashboardPage,
  connections: ConnectionsPage,
  logs: LogsPage,
  users: UsersPage,
  autoreplies: AutoRepliesPage,
  alerts: AlertsPage,
};

function App() {
  const client = useQueryClient();
  const sessionQuery = useQuery({ queryKey: ['session'], queryFn: session.check, staleTime: Number.POSITIVE_INFINITY });
  const [signedIn, setSignedIn] = useState<boolean | null>(null);
  const { page } = useRoute();

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

  const pageId: PageId = PAGES.some((p) => p.id === page) ? (page as PageId) : 'dashboard';
  const Page = PAGE_COMPONENTS[pageId];
  const signOut = async () => {
    await session.signOut();
    client.clear();
    setSignedIn(false);
  };
  return (
    <Layout page={pageId} onSignOut={() => void signOut()}>
      <Page />
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

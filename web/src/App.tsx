import { ApolloProvider, type ApolloClient } from '@apollo/client';
import type { ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import type { Auth } from './api/auth';
import { SessionProvider, useSession } from './api/session';
import { Loading } from './components/Feedback';
import { Shell } from './components/Shell';
import { ToastProvider } from './components/Toast';
import AllKeysPage from './pages/AllKeysPage';
import AuditPage from './pages/AuditPage';
import AuthCompletePage from './pages/AuthCompletePage';
import BillingPage from './pages/BillingPage';
import GatewaysPage from './pages/GatewaysPage';
import GroupsPage from './pages/GroupsPage';
import HomePage from './pages/HomePage';
import InviteAcceptPage from './pages/InviteAcceptPage';
import KeyDetailPage from './pages/KeyDetailPage';
import KeysPage from './pages/KeysPage';
import LimitsPage from './pages/LimitsPage';
import LogsPage from './pages/LogsPage';
import MembersPage from './pages/MembersPage';
import NotFoundPage from './pages/NotFoundPage';
import ResetPasswordPage from './pages/ResetPasswordPage';
import SecurityPage from './pages/SecurityPage';
import SignInPage from './pages/SignInPage';
import UsagePage from './pages/UsagePage';
import VerifyEmailPage from './pages/VerifyEmailPage';
import WorkspaceSecurityPage from './pages/WorkspaceSecurityPage';
import ChannelsPage from './pages/ChannelsPage';

/** RequireSession sends a signed-out visitor to sign-in, remembering where they were going. */
function RequireSession({ children }: { children: ReactNode }) {
  const { signedIn, state } = useSession();
  const loc = useLocation();
  // On load the tab asks its refresh cookie for a session first.
  if (state === 'unknown') return <Loading />;
  if (!signedIn) return <Navigate to={`/signin?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  return <>{children}</>;
}

/** AppRoutes is the route table; one page per route. */
export function AppRoutes() {
  return (
    <Routes>
      <Route path="/signin" element={<SignInPage />} />
      <Route path="/sign-in" element={<Navigate to="/signin" replace />} />
      <Route path="/auth/complete" element={<AuthCompletePage />} />
      {/* The pages mailed links open; auth/mail names the same paths. */}
      <Route path="/invite/accept" element={<InviteAcceptPage />} />
      <Route path="/verify-email" element={<VerifyEmailPage />} />
      <Route path="/reset-password" element={<ResetPasswordPage />} />
      <Route
        path="/"
        element={
          <RequireSession>
            <HomePage />
          </RequireSession>
        }
      />
      <Route
        path="/security"
        element={
          <RequireSession>
            <Shell />
          </RequireSession>
        }
      >
        <Route index element={<SecurityPage />} />
      </Route>
      <Route
        path="/w/:workspaceID"
        element={
          <RequireSession>
            <Shell />
          </RequireSession>
        }
      >
        <Route index element={<Navigate to="keys" replace />} />
        <Route path="keys" element={<KeysPage />} />
        <Route path="keys/:keyID" element={<KeyDetailPage />} />
        <Route path="all-keys" element={<AllKeysPage />} />
        <Route path="logs" element={<LogsPage />} />
        <Route path="usage" element={<UsagePage />} />
        <Route path="limits" element={<LimitsPage />} />
        <Route path="billing" element={<BillingPage />} />
        <Route path="members" element={<MembersPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="security" element={<WorkspaceSecurityPage />} />
        <Route path="channels" element={<ChannelsPage />} />
        <Route path="groups" element={<GroupsPage />} />
        <Route path="gateways" element={<GatewaysPage />} />
      </Route>
      <Route path="*" element={<NotFoundPage />} />
    </Routes>
  );
}

/** App wires the GraphQL client, the session and the router. */
export function App({ client, auth }: { client: ApolloClient<object>; auth: Auth }) {
  return (
    <ApolloProvider client={client}>
      <SessionProvider auth={auth}>
        <ToastProvider>
          <BrowserRouter>
            <AppRoutes />
          </BrowserRouter>
        </ToastProvider>
      </SessionProvider>
    </ApolloProvider>
  );
}

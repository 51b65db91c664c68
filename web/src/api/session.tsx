import { useApolloClient, type ApolloClient } from '@apollo/client';
import { print } from 'graphql';
import { createContext, useCallback, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { graphql } from '../gql';
import type { Auth, Session } from './auth';
import { GRAPHQL_PATH } from './client';

const SignOut = graphql(`
  mutation SignOut($refreshToken: String!) {
    signOut(refreshToken: $refreshToken)
  }
`);

/** SessionAPI is what pages need of the session: whether one exists, and how to start or end it. */
export interface SessionAPI {
  signedIn: boolean;
  begin(s: Session): void;
  end(): Promise<void>;
}

const SessionContext = createContext<SessionAPI | null>(null);

/** SessionProvider exposes the Auth session to the component tree. */
export function SessionProvider({ auth, children }: { auth: Auth; children: ReactNode }) {
  const client = useApolloClient();
  const signedIn = useSyncExternalStore(
    (fn) => auth.store.subscribe(fn),
    () => auth.store.get() !== null,
  );
  const begin = useCallback(
    (s: Session) => {
      auth.store.set(s);
      auth.schedule();
    },
    [auth],
  );
  const end = useCallback(async () => {
    const s = auth.store.get();
    auth.stop();
    auth.store.set(null);
    if (s) await revokeQuietly(s);
    await clearQuietly(client);
  }, [auth, client]);
  const api = useMemo(() => ({ signedIn, begin, end }), [signedIn, begin, end]);
  return <SessionContext.Provider value={api}>{children}</SessionContext.Provider>;
}

async function revokeQuietly(s: Session): Promise<void> {
  try {
    await fetch(GRAPHQL_PATH, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.accessToken}` },
      body: JSON.stringify({ query: print(SignOut), variables: { refreshToken: s.refreshToken } }),
    });
  } catch {
    // Signing out locally must work offline; the refresh token expires on its own.
  }
}

async function clearQuietly(client: ApolloClient<object>): Promise<void> {
  try {
    await client.clearStore();
  } catch {
    // clearStore rejects when in-flight queries are cancelled; nothing to do.
  }
}

/** useSession returns the session API; it must be used under SessionProvider. */
export function useSession(): SessionAPI {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

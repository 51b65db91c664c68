import { useApolloClient, type ApolloClient } from '@apollo/client';
import { createContext, useCallback, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { cookieSignOut, type Auth, type Session, type SessionState } from './auth';

/** SessionAPI is what pages need of the session: whether one exists, and how to start, resume or end it. */
export interface SessionAPI {
  signedIn: boolean;
  /** state is 'unknown' until the first refresh on load has answered. */
  state: SessionState;
  begin(s: Session): void;
  /** resume asks the refresh cookie for a session (after SSO) and reports whether there is one. */
  resume(): Promise<boolean>;
  end(): Promise<void>;
}

const SessionContext = createContext<SessionAPI | null>(null);

/** SessionProvider exposes the Auth session to the component tree. */
export function SessionProvider({ auth, children }: { auth: Auth; children: ReactNode }) {
  const client = useApolloClient();
  const state = useSyncExternalStore(
    (fn) => auth.store.subscribe(fn),
    () => auth.store.state(),
  );
  const begin = useCallback(
    (s: Session) => {
      auth.store.set(s);
      auth.schedule();
    },
    [auth],
  );
  const resume = useCallback(async () => {
    try {
      return (await auth.refresh()) !== null;
    } catch {
      return false;
    }
  }, [auth]);
  const end = useCallback(async () => {
    auth.stop();
    auth.store.set(null);
    try {
      await cookieSignOut();
    } catch {
      // Signing out locally must work offline; the cookie's session ends on its own.
    }
    await clearQuietly(client);
  }, [auth, client]);
  const api = useMemo(() => ({ signedIn: state === 'signedIn', state, begin, resume, end }), [state, begin, resume, end]);
  return <SessionContext.Provider value={api}>{children}</SessionContext.Provider>;
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

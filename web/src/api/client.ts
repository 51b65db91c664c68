import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { Auth, SessionStore, authFetch, cookieRefresh, parseExpiresAt, type Session } from './auth';

/** GRAPHQL_PATH is where the control plane answers GraphQL. */
export const GRAPHQL_PATH = '/graphql';

/** sessionFromPayload converts an AuthPayload into a Session. Its refreshToken, if any, is ignored: the browser's is the HttpOnly cookie. */
export function sessionFromPayload(p: { accessToken: string; expiresAt: string; refreshToken?: string | null }): Session {
  return { accessToken: p.accessToken, expiresAt: parseExpiresAt(p.expiresAt) };
}

/** createAuth wires the tab's in-memory session to the refresh cookie, and asks for a token once on load. */
export function createAuth(): Auth {
  const auth = new Auth(new SessionStore(), cookieRefresh());
  void auth.refresh().catch(() => auth.store.set(null));
  return auth;
}

/**
 * createApolloClient builds the one client of the app. Its normalized cache
 * is the only store of server state: mutations return the objects they
 * change, so rows update in place, and list-changing mutations refetch.
 */
export function createApolloClient(auth: Auth, uri = GRAPHQL_PATH): ApolloClient<object> {
  return new ApolloClient({
    link: new HttpLink({ uri, fetch: authFetch(auth) }),
    cache: new InMemoryCache({
      typePolicies: {
        // Summaries and series have no id: they are values of their parent.
        Workspace: { fields: { billing: { merge: true }, rateLimits: { merge: true } } },
      },
    }),
    defaultOptions: {
      watchQuery: { fetchPolicy: 'cache-and-network', nextFetchPolicy: 'cache-first' },
    },
  });
}

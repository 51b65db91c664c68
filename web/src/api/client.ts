import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { print } from 'graphql';
import { graphql } from '../gql';
import { Auth, RefreshRejected, SessionStore, authFetch, parseExpiresAt, type RefreshFunc, type Session } from './auth';

/** GRAPHQL_PATH is where the control plane answers GraphQL. */
export const GRAPHQL_PATH = '/graphql';

const RefreshSession = graphql(`
  mutation RefreshSession($refreshToken: String!) {
    refreshSession(refreshToken: $refreshToken) {
      accessToken
      refreshToken
      expiresAt
    }
  }
`);

/** sessionFromPayload converts an AuthPayload into a Session. */
export function sessionFromPayload(p: { accessToken: string; refreshToken: string; expiresAt: string }): Session {
  return { accessToken: p.accessToken, refreshToken: p.refreshToken, expiresAt: parseExpiresAt(p.expiresAt) };
}

/**
 * graphqlRefresh calls refreshSession with plain fetch: it must not go
 * through the Apollo link, whose fetch would try to refresh again.
 */
export function graphqlRefresh(uri = GRAPHQL_PATH, baseFetch: typeof fetch = (...a) => fetch(...a)): RefreshFunc {
  return async (refreshToken) => {
    const res = await baseFetch(uri, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ query: print(RefreshSession), variables: { refreshToken } }),
    });
    let body: { data?: { refreshSession?: Parameters<typeof sessionFromPayload>[0] }; errors?: { message: string; extensions?: { code?: string } }[] };
    try {
      body = await res.json();
    } catch {
      throw new Error(`refresh failed: HTTP ${res.status}`);
    }
    const payload = body.data?.refreshSession;
    if (payload) return sessionFromPayload(payload);
    const code = body.errors?.[0]?.extensions?.code;
    // Only a definite "no" signs the user out; a 5xx keeps the session to retry.
    if (res.status === 401 || code === 'UNAUTHENTICATED' || code === 'BAD_USER_INPUT' || (res.ok && body.errors?.length)) {
      throw new RefreshRejected(body.errors?.[0]?.message);
    }
    throw new Error(`refresh failed: HTTP ${res.status}`);
  };
}

/** createAuth wires the browser's session store to refreshSession. */
export function createAuth(): Auth {
  const auth = new Auth(new SessionStore(), graphqlRefresh());
  auth.schedule();
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

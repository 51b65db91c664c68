// Session tokens and the fetch wrapper that keeps them fresh.
//
// The refresh token is an HttpOnly cookie that script never sees: the
// control plane sets it on sign-in (every request here says
// X-OAIS-Session: cookie) and only POST /auth/session/refresh and
// /auth/session/signout receive it. The access token lives in this tab's
// memory only; on load the dashboard asks /auth/session/refresh for one.
// Refresh tokens are single-use on the server (a reused one revokes the
// whole session), so every refresh is single-flight in this tab and
// serialised across tabs with the Web Locks API; its result is shared with
// the other tabs over a BroadcastChannel (memory to memory, no storage).

/** Session is one signed-in session's access token; expiresAt is epoch milliseconds. */
export interface Session {
  accessToken: string;
  expiresAt: number;
}

/** RefreshRejected means the server refused the refresh cookie; the user must sign in again. */
export class RefreshRejected extends Error {
  constructor(message = 'session expired') {
    super(message);
    this.name = 'RefreshRejected';
  }
}

/** SESSION_HEADER asks the control plane to keep the refresh token in its HttpOnly cookie. */
export const SESSION_HEADER = 'X-OAIS-Session';
/** REFRESH_PATH and SIGNOUT_PATH are the cookie endpoints (auth.RefreshPath, auth.SignOutPath). */
export const REFRESH_PATH = '/auth/session/refresh';
export const SIGNOUT_PATH = '/auth/session/signout';

const CHANNEL = 'oais.session';

/** REFRESH_SKEW_MS is how long before expiry a token is refreshed. */
export const REFRESH_SKEW_MS = 60_000;

/** SessionState: unknown until the first refresh on load has answered. */
export type SessionState = 'unknown' | 'signedIn' | 'signedOut';

type Listener = () => void;

/** SessionStore holds the current session in memory and tells subscribers when it changes. */
export class SessionStore {
  private current: Session | null = null;
  private known = false;
  private readonly listeners = new Set<Listener>();
  private readonly channel: BroadcastChannel | null;

  constructor(channel: BroadcastChannel | null = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null) {
    this.channel = channel;
    this.channel?.addEventListener('message', (e: MessageEvent) => this.adopt(e.data as Session | null));
  }

  /** get returns the current session, or null when signed out (or not known yet). */
  get(): Session | null {
    return this.current;
  }

  /** state says whether the tab is signed in, out, or has not asked yet. */
  state(): SessionState {
    if (this.current) return 'signedIn';
    return this.known ? 'signedOut' : 'unknown';
  }

  /** set replaces the session (null signs out) and tells other tabs. */
  set(s: Session | null): void {
    this.adopt(s);
    this.channel?.postMessage(s);
  }

  /** subscribe calls fn after every change; it returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private adopt(s: Session | null): void {
    this.current = s;
    this.known = true;
    this.listeners.forEach((fn) => fn());
  }
}

/** RefreshFunc exchanges the refresh cookie for a new session. */
export type RefreshFunc = () => Promise<Session>;

/** AuthOptions are the clocks and locks Auth uses; tests replace them. */
export interface AuthOptions {
  now?: () => number;
  skewMs?: number;
  /** withLock runs fn while holding a cross-tab lock (navigator.locks when present). */
  withLock?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** Auth hands out valid access tokens, refreshing them shortly before expiry. */
export class Auth {
  private inflight: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;
  private readonly skew: number;
  private readonly withLock: <T>(fn: () => Promise<T>) => Promise<T>;

  constructor(
    readonly store: SessionStore,
    private readonly refreshFn: RefreshFunc,
    opts: AuthOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.skew = opts.skewMs ?? REFRESH_SKEW_MS;
    this.withLock = opts.withLock ?? webLock;
  }

  /** accessToken returns a token good for at least the skew, refreshing first if needed; null when signed out. */
  async accessToken(): Promise<string | null> {
    const s = this.store.get();
    if (!s) return this.store.state() === 'unknown' ? this.refresh() : null;
    if (s.expiresAt - this.skew > this.now()) return s.accessToken;
    return this.refresh();
  }

  /**
   * refresh gets a new access token with the cookie, once per tab however
   * many callers ask. A refused cookie signs the tab out (null); a network
   * failure throws and leaves the session in place.
   */
  refresh(): Promise<string | null> {
    if (!this.inflight) {
      const started = this.store.get();
      this.inflight = this.withLock(() => this.refreshLocked(started)).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async refreshLocked(started: Session | null): Promise<string | null> {
    const s = this.store.get();
    // Another tab refreshed while we waited for the lock: use its result.
    if (s && s.accessToken !== started?.accessToken && s.expiresAt - this.skew > this.now()) {
      return s.accessToken;
    }
    try {
      const next = await this.refreshFn();
      this.store.set(next);
      this.schedule();
      return next.accessToken;
    } catch (err) {
      if (err instanceof RefreshRejected) {
        this.store.set(null);
        return null;
      }
      throw err;
    }
  }

  /** schedule arms a timer that refreshes an idle tab's token shortly before it expires. */
  schedule(): void {
    clearTimeout(this.timer);
    const s = this.store.get();
    if (!s || typeof window === 'undefined') return;
    const wait = Math.max(s.expiresAt - this.skew - this.now(), 1_000);
    // Browsers clamp timers to ~24.8 days; sessions are far shorter anyway.
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), Math.min(wait, 2 ** 31 - 1));
  }

  /** stop cancels the refresh timer. */
  stop(): void {
    clearTimeout(this.timer);
  }
}

function webLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
  return locks ? (locks.request('oais.refresh', fn) as Promise<T>) : fn();
}

/**
 * isUnauthenticated reports whether a GraphQL response says the token was
 * not accepted: HTTP 401, or an error with extensions.code UNAUTHENTICATED.
 */
export async function isUnauthenticated(res: Response): Promise<boolean> {
  if (res.status === 401) return true;
  if (!(res.headers.get('content-type') ?? '').includes('json')) return false;
  try {
    const body = (await res.clone().json()) as { errors?: { extensions?: { code?: string } }[] };
    return !!body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED');
  } catch {
    return false;
  }
}

function withBearer(init: RequestInit | undefined, token: string | null): RequestInit {
  const headers = new Headers(init?.headers);
  headers.set(SESSION_HEADER, 'cookie');
  if (token) headers.set('Authorization', `Bearer ${token}`);
  else headers.delete('Authorization');
  return { ...init, headers, credentials: 'same-origin' };
}

/**
 * authFetch wraps fetch for the GraphQL link: it sends the current access
 * token and, when the server answers UNAUTHENTICATED, refreshes the session
 * and retries the request exactly once. Every request asks for the refresh
 * token as the cookie, so signIn never hands it to script.
 */
export function authFetch(auth: Auth, baseFetch: typeof fetch = (...a) => fetch(...a)): typeof fetch {
  return async (input, init) => {
    const token = await auth.accessToken();
    const res = await baseFetch(input, withBearer(init, token));
    if (!auth.store.get() || !(await isUnauthenticated(res))) return res;
    const fresh = await auth.refresh();
    if (!fresh) return res; // signed out: the app routes to sign-in
    return baseFetch(input, withBearer(init, fresh));
  };
}

/**
 * cookieRefresh exchanges the HttpOnly refresh cookie for an access token at
 * /auth/session/refresh (which rotates the cookie). It uses plain fetch: it
 * must not go through the Apollo link, whose fetch would refresh again.
 */
export function cookieRefresh(uri = REFRESH_PATH, baseFetch: typeof fetch = (...a) => fetch(...a)): RefreshFunc {
  return async () => {
    const res = await baseFetch(uri, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { [SESSION_HEADER]: 'cookie', Accept: 'application/json' },
    });
    // Only a definite "no" signs the user out; a 5xx keeps the session to retry.
    if (res.status === 401 || res.status === 403) throw new RefreshRejected();
    if (!res.ok) throw new Error(`refresh failed: HTTP ${res.status}`);
    const body = (await res.json()) as { accessToken?: string; expiresAt?: string };
    const expiresAt = parseExpiresAt(body.expiresAt ?? '');
    if (!body.accessToken || Number.isNaN(expiresAt)) throw new Error('refresh failed: unreadable answer');
    return { accessToken: body.accessToken, expiresAt };
  };
}

/** cookieSignOut ends the cookie's session on the server and clears the cookie. */
export async function cookieSignOut(uri = SIGNOUT_PATH, baseFetch: typeof fetch = (...a) => fetch(...a)): Promise<void> {
  await baseFetch(uri, { method: 'POST', credentials: 'same-origin', headers: { [SESSION_HEADER]: 'cookie' } });
}

/**
 * parseExpiresAt reads an expiry given as RFC 3339 or as epoch seconds (or
 * milliseconds) into epoch milliseconds; NaN when unreadable.
 */
export function parseExpiresAt(v: string): number {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    return n < 1e12 ? n * 1000 : n;
  }
  return Date.parse(v);
}

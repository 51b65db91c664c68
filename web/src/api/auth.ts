// Session tokens and the fetch wrapper that keeps them fresh.
//
// The access token lives in memory (mirrored to sessionStorage so a reload
// keeps it); the refresh token lives in localStorage so a new tab can sign
// itself in. Refresh tokens are single-use on the server (a reused one
// revokes the whole session), so every refresh is single-flight in this tab,
// serialised across tabs with the Web Locks API, and the result is broadcast
// to the other tabs so they never spend a stale refresh token.

/** Session is one signed-in session's tokens; expiresAt is epoch milliseconds. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

/** RefreshRejected means the server refused the refresh token; the user must sign in again. */
export class RefreshRejected extends Error {
  constructor(message = 'session expired') {
    super(message);
    this.name = 'RefreshRejected';
  }
}

const REFRESH_KEY = 'oais.refreshToken';
const ACCESS_KEY = 'oais.accessToken';
const EXPIRES_KEY = 'oais.expiresAt';
const CHANNEL = 'oais.session';

/** REFRESH_SKEW_MS is how long before expiry a token is refreshed. */
export const REFRESH_SKEW_MS = 60_000;

type Listener = () => void;

/** SessionStore holds the current session and tells subscribers when it changes. */
export class SessionStore {
  private current: Session | null;
  private readonly listeners = new Set<Listener>();
  private readonly channel: BroadcastChannel | null;

  constructor(
    private readonly local: Storage | null = safeStorage('localStorage'),
    private readonly tab: Storage | null = safeStorage('sessionStorage'),
    channel: BroadcastChannel | null = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null,
  ) {
    this.current = this.load();
    this.channel = channel;
    this.channel?.addEventListener('message', (e: MessageEvent) => this.adopt(e.data as Session | null));
  }

  /** get returns the current session, or null when signed out. */
  get(): Session | null {
    return this.current;
  }

  /** storedRefreshToken reads the refresh token other tabs may have rotated. */
  storedRefreshToken(): string | null {
    return this.local?.getItem(REFRESH_KEY) ?? null;
  }

  /** set replaces the session (null signs out), persists it and tells other tabs. */
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
    try {
      if (s) {
        this.local?.setItem(REFRESH_KEY, s.refreshToken);
        this.tab?.setItem(ACCESS_KEY, s.accessToken);
        this.tab?.setItem(EXPIRES_KEY, String(s.expiresAt));
      } else {
        this.local?.removeItem(REFRESH_KEY);
        this.tab?.removeItem(ACCESS_KEY);
        this.tab?.removeItem(EXPIRES_KEY);
      }
    } catch {
      // Storage can be full or blocked; the in-memory session still works.
    }
    this.listeners.forEach((fn) => fn());
  }

  private load(): Session | null {
    const refreshToken = this.local?.getItem(REFRESH_KEY);
    if (!refreshToken) return null;
    return {
      refreshToken,
      // A new tab has no access token yet: expiresAt 0 makes the first
      // request refresh before it is sent.
      accessToken: this.tab?.getItem(ACCESS_KEY) ?? '',
      expiresAt: Number(this.tab?.getItem(EXPIRES_KEY) ?? 0) || 0,
    };
  }
}

function safeStorage(name: 'localStorage' | 'sessionStorage'): Storage | null {
  try {
    return typeof window !== 'undefined' ? window[name] : null;
  } catch {
    return null;
  }
}

/** RefreshFunc exchanges a refresh token for a new session (refreshSession). */
export type RefreshFunc = (refreshToken: string) => Promise<Session>;

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
    if (!s) return null;
    if (s.accessToken && s.expiresAt - this.skew > this.now()) return s.accessToken;
    return this.refresh();
  }

  /**
   * refresh gets a new access token, once per tab however many callers ask.
   * A refused refresh token signs the user out (null); a network failure
   * throws and leaves the session in place.
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
    if (!s) return null;
    // Another tab refreshed while we waited for the lock: use its result.
    if (started && s.accessToken !== started.accessToken && s.expiresAt - this.skew > this.now()) {
      return s.accessToken;
    }
    const refreshToken = this.store.storedRefreshToken() ?? s.refreshToken;
    try {
      const next = await this.refreshFn(refreshToken);
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
  if (token) headers.set('Authorization', `Bearer ${token}`);
  else headers.delete('Authorization');
  return { ...init, headers };
}

/**
 * authFetch wraps fetch for the GraphQL link: it sends the current access
 * token and, when the server answers UNAUTHENTICATED, refreshes the session
 * and retries the request exactly once.
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

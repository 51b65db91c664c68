import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Auth, RefreshRejected, SessionStore, authFetch, cookieRefresh, parseExpiresAt, type Session } from './auth';

const NOW = 1_800_000_000_000;
const noLock = <T,>(fn: () => Promise<T>) => fn();

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const unauthenticated = () => json({ errors: [{ message: 'authentication required', extensions: { code: 'UNAUTHENTICATED' } }], data: null });
const ok = () => json({ data: { viewer: { id: 'u1' } } });

function setup(session: Session | null, refresh = vi.fn<() => Promise<Session>>()) {
  const store = new SessionStore(null);
  store.set(session);
  const auth = new Auth(store, refresh, { now: () => NOW, withLock: noLock });
  return { store, auth, refresh };
}

const fresh: Session = { accessToken: 'access-1', expiresAt: NOW + 10 * 60_000 };
const renewed: Session = { accessToken: 'access-2', expiresAt: NOW + 15 * 60_000 };

function header(call: unknown[], name: string): string | null {
  return new Headers((call[1] as RequestInit).headers).get(name);
}

describe('authFetch', () => {
  let base: ReturnType<typeof vi.fn<typeof fetch>>;
  beforeEach(() => {
    base = vi.fn<typeof fetch>();
  });

  it('sends the access token, asks for the refresh cookie, and does not refresh a good token', async () => {
    const { auth, refresh } = setup(fresh);
    base.mockResolvedValueOnce(ok());
    const res = await authFetch(auth, base)('/graphql', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(header(base.mock.calls[0], 'Authorization')).toBe('Bearer access-1');
    expect(header(base.mock.calls[0], 'X-OAIS-Session')).toBe('cookie');
    expect(refresh).not.toHaveBeenCalled();
  });

  it('on UNAUTHENTICATED refreshes the token, then retries once with the new one', async () => {
    const { auth, refresh, store } = setup(fresh);
    refresh.mockResolvedValueOnce(renewed);
    base.mockResolvedValueOnce(unauthenticated()).mockResolvedValueOnce(ok());
    const res = await authFetch(auth, base)('/graphql', { method: 'POST', body: '{}' });
    expect(await res.json()).toEqual({ data: { viewer: { id: 'u1' } } });
    expect(refresh).toHaveBeenCalledOnce();
    expect(base).toHaveBeenCalledTimes(2);
    expect(header(base.mock.calls[1], 'Authorization')).toBe('Bearer access-2');
    expect(store.get()).toEqual(renewed);
  });

  it('retries at most once, even if the retry is refused too', async () => {
    const { auth, refresh } = setup(fresh);
    refresh.mockResolvedValue(renewed);
    base.mockResolvedValue(unauthenticated());
    const res = await authFetch(auth, base)('/graphql', {});
    expect(await res.json()).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(base).toHaveBeenCalledTimes(2);
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('refreshes shortly before expiry instead of sending a dying token', async () => {
    const { auth, refresh } = setup({ ...fresh, expiresAt: NOW + 30_000 });
    refresh.mockResolvedValueOnce(renewed);
    base.mockResolvedValueOnce(ok());
    await authFetch(auth, base)('/graphql', {});
    expect(refresh).toHaveBeenCalledOnce();
    expect(header(base.mock.calls[0], 'Authorization')).toBe('Bearer access-2');
  });

  it('signs out when the refresh cookie is refused, and returns the original answer', async () => {
    const { auth, refresh, store } = setup(fresh);
    refresh.mockRejectedValueOnce(new RefreshRejected());
    base.mockResolvedValueOnce(unauthenticated());
    const res = await authFetch(auth, base)('/graphql', {});
    expect(res.status).toBe(200);
    expect(store.get()).toBeNull();
    expect(store.state()).toBe('signedOut');
  });

  it('keeps the session when refresh fails for a network reason', async () => {
    const { auth, refresh, store } = setup({ ...fresh, expiresAt: NOW - 1 });
    refresh.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(authFetch(auth, base)('/graphql', {})).rejects.toThrow('Failed to fetch');
    expect(store.get()?.accessToken).toBe('access-1');
  });

  it('does not refresh for anonymous requests once signed out', async () => {
    const { auth, refresh } = setup(null);
    base.mockResolvedValueOnce(unauthenticated());
    await authFetch(auth, base)('/graphql', {});
    expect(refresh).not.toHaveBeenCalled();
    expect(header(base.mock.calls[0], 'Authorization')).toBeNull();
  });

  it('makes one refresh for many concurrent requests (refresh tokens are single-use)', async () => {
    const { auth, refresh } = setup({ ...fresh, expiresAt: NOW - 1 });
    let release!: (s: Session) => void;
    refresh.mockImplementationOnce(() => new Promise((r) => (release = r)));
    base.mockImplementation(async () => ok());
    const f = authFetch(auth, base);
    const all = Promise.all([f('/graphql', {}), f('/graphql', {}), f('/graphql', {})]);
    await vi.waitFor(() => expect(refresh).toHaveBeenCalled());
    release(renewed);
    await all;
    expect(refresh).toHaveBeenCalledOnce();
    expect(base.mock.calls.map((c) => header(c, 'Authorization'))).toEqual(['Bearer access-2', 'Bearer access-2', 'Bearer access-2']);
  });
});

describe('SessionStore', () => {
  it('is unknown until the first answer, then in or out', () => {
    const store = new SessionStore(null);
    expect(store.state()).toBe('unknown');
    store.set(fresh);
    expect(store.state()).toBe('signedIn');
    store.set(null);
    expect(store.state()).toBe('signedOut');
  });

  // Issue 15: the refresh token used to sit in localStorage, readable by
  // any script on the page for 30 days. Now the tab keeps nothing in storage.
  it('writes no token to localStorage or sessionStorage', () => {
    localStorage.clear();
    sessionStorage.clear();
    const store = new SessionStore(null);
    store.set({ ...fresh, refreshToken: 'oais_rt_secret' } as Session);
    expect(JSON.stringify({ ...localStorage })).not.toContain('oais_rt_secret');
    expect(JSON.stringify({ ...sessionStorage })).not.toContain('access-1');
    expect(localStorage.length + sessionStorage.length).toBe(0);
  });
});

describe('cookieRefresh', () => {
  it('posts to the cookie endpoint with the custom header and returns the new access token', async () => {
    const base = vi.fn<typeof fetch>().mockResolvedValueOnce(json({ accessToken: 'a', expiresAt: '2027-01-15T08:00:00Z' }));
    const s = await cookieRefresh('/auth/session/refresh', base)();
    expect(s).toEqual({ accessToken: 'a', expiresAt: Date.parse('2027-01-15T08:00:00Z') });
    const init = base.mock.calls[0][1] as RequestInit;
    expect(base.mock.calls[0][0]).toBe('/auth/session/refresh');
    expect(init.method).toBe('POST');
    expect(init.body).toBeUndefined();
    expect(new Headers(init.headers).get('X-OAIS-Session')).toBe('cookie');
  });

  it('a refused cookie is RefreshRejected; a 5xx is not', async () => {
    const refused = vi.fn<typeof fetch>().mockResolvedValueOnce(json({}, 401));
    await expect(cookieRefresh('/r', refused)()).rejects.toBeInstanceOf(RefreshRejected);
    const down = vi.fn<typeof fetch>().mockResolvedValueOnce(new Response('bad gateway', { status: 502 }));
    await expect(cookieRefresh('/r', down)()).rejects.not.toBeInstanceOf(RefreshRejected);
  });
});

describe('parseExpiresAt', () => {
  it('reads RFC 3339, epoch seconds and epoch milliseconds', () => {
    expect(parseExpiresAt('2027-01-15T08:00:00Z')).toBe(Date.UTC(2027, 0, 15, 8));
    expect(parseExpiresAt('1800000000')).toBe(1_800_000_000_000);
    expect(parseExpiresAt('1800000000000')).toBe(1_800_000_000_000);
    expect(parseExpiresAt('soon')).toBeNaN();
  });
});

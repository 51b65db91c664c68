import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Auth, RefreshRejected, SessionStore, authFetch, parseExpiresAt, type Session } from './auth';
import { graphqlRefresh } from './client';

const NOW = 1_800_000_000_000;
const noLock = <T,>(fn: () => Promise<T>) => fn();

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const unauthenticated = () => json({ errors: [{ message: 'authentication required', extensions: { code: 'UNAUTHENTICATED' } }], data: null });
const ok = () => json({ data: { viewer: { id: 'u1' } } });

function setup(session: Session | null, refresh = vi.fn<(rt: string) => Promise<Session>>()) {
  const local = memoryStorage();
  const tab = memoryStorage();
  const store = new SessionStore(local, tab, null);
  store.set(session);
  const auth = new Auth(store, refresh, { now: () => NOW, withLock: noLock });
  return { store, auth, refresh, local, tab };
}

const fresh: Session = { accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: NOW + 10 * 60_000 };
const renewed: Session = { accessToken: 'access-2', refreshToken: 'refresh-2', expiresAt: NOW + 15 * 60_000 };

function bearer(call: unknown[]): string | null {
  return new Headers((call[1] as RequestInit).headers).get('Authorization');
}

describe('authFetch', () => {
  let base: ReturnType<typeof vi.fn<typeof fetch>>;
  beforeEach(() => {
    base = vi.fn<typeof fetch>();
  });

  it('sends the access token and does not refresh a good one', async () => {
    const { auth, refresh } = setup(fresh);
    base.mockResolvedValueOnce(ok());
    const res = await authFetch(auth, base)('/graphql', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(bearer(base.mock.calls[0])).toBe('Bearer access-1');
    expect(refresh).not.toHaveBeenCalled();
  });

  it('on UNAUTHENTICATED refreshes the token, then retries once with the new one', async () => {
    const { auth, refresh, store } = setup(fresh);
    refresh.mockResolvedValueOnce(renewed);
    base.mockResolvedValueOnce(unauthenticated()).mockResolvedValueOnce(ok());
    const res = await authFetch(auth, base)('/graphql', { method: 'POST', body: '{}' });
    expect(await res.json()).toEqual({ data: { viewer: { id: 'u1' } } });
    expect(refresh).toHaveBeenCalledExactlyOnceWith('refresh-1');
    expect(base).toHaveBeenCalledTimes(2);
    expect(bearer(base.mock.calls[1])).toBe('Bearer access-2');
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

  it('treats HTTP 401 like UNAUTHENTICATED', async () => {
    const { auth, refresh } = setup(fresh);
    refresh.mockResolvedValueOnce(renewed);
    base.mockResolvedValueOnce(new Response('', { status: 401 })).mockResolvedValueOnce(ok());
    await authFetch(auth, base)('/graphql', {});
    expect(bearer(base.mock.calls[1])).toBe('Bearer access-2');
  });

  it('refreshes shortly before expiry instead of sending a dying token', async () => {
    const { auth, refresh } = setup({ ...fresh, expiresAt: NOW + 30_000 });
    refresh.mockResolvedValueOnce(renewed);
    base.mockResolvedValueOnce(ok());
    await authFetch(auth, base)('/graphql', {});
    expect(refresh).toHaveBeenCalledOnce();
    expect(base).toHaveBeenCalledOnce();
    expect(bearer(base.mock.calls[0])).toBe('Bearer access-2');
  });

  it('signs out when the refresh token is refused, and returns the original answer', async () => {
    const { auth, refresh, store, local } = setup(fresh);
    refresh.mockRejectedValueOnce(new RefreshRejected());
    base.mockResolvedValueOnce(unauthenticated());
    const res = await authFetch(auth, base)('/graphql', {});
    expect(res.status).toBe(200);
    expect(base).toHaveBeenCalledOnce();
    expect(store.get()).toBeNull();
    expect(local.getItem('oais.refreshToken')).toBeNull();
  });

  it('keeps the session when refresh fails for a network reason', async () => {
    const { auth, refresh, store } = setup({ ...fresh, expiresAt: NOW - 1 });
    refresh.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(authFetch(auth, base)('/graphql', {})).rejects.toThrow('Failed to fetch');
    expect(store.get()?.refreshToken).toBe('refresh-1');
  });

  it('does not refresh for anonymous requests such as signIn', async () => {
    const { auth, refresh } = setup(null);
    base.mockResolvedValueOnce(unauthenticated());
    await authFetch(auth, base)('/graphql', {});
    expect(refresh).not.toHaveBeenCalled();
    expect(bearer(base.mock.calls[0])).toBeNull();
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
    expect(base.mock.calls.map(bearer)).toEqual(['Bearer access-2', 'Bearer access-2', 'Bearer access-2']);
  });
});

describe('SessionStore', () => {
  it('keeps the refresh token in localStorage and the access token per tab', () => {
    const { local, tab } = setup(fresh);
    expect(local.getItem('oais.refreshToken')).toBe('refresh-1');
    expect(local.getItem('oais.accessToken')).toBeNull();
    expect(tab.getItem('oais.accessToken')).toBe('access-1');
  });

  it('a new tab starts with the refresh token only, so its first request refreshes', () => {
    const local = memoryStorage();
    local.setItem('oais.refreshToken', 'refresh-9');
    const store = new SessionStore(local, memoryStorage(), null);
    expect(store.get()).toEqual({ refreshToken: 'refresh-9', accessToken: '', expiresAt: 0 });
  });
});

describe('graphqlRefresh', () => {
  it('calls refreshSession and returns the new session', async () => {
    const base = vi.fn<typeof fetch>().mockResolvedValueOnce(
      json({ data: { refreshSession: { accessToken: 'a', refreshToken: 'r', expiresAt: '2027-01-15T08:00:00Z' } } }),
    );
    const s = await graphqlRefresh('/graphql', base)('old');
    expect(s).toEqual({ accessToken: 'a', refreshToken: 'r', expiresAt: Date.parse('2027-01-15T08:00:00Z') });
    const body = JSON.parse(String((base.mock.calls[0][1] as RequestInit).body));
    expect(body.query).toContain('refreshSession');
    expect(body.variables).toEqual({ refreshToken: 'old' });
  });

  it('a refused token is RefreshRejected; a 5xx is not', async () => {
    const refused = vi.fn<typeof fetch>().mockResolvedValueOnce(unauthenticated());
    await expect(graphqlRefresh('/graphql', refused)('x')).rejects.toBeInstanceOf(RefreshRejected);
    const down = vi.fn<typeof fetch>().mockResolvedValueOnce(new Response('bad gateway', { status: 502 }));
    await expect(graphqlRefresh('/graphql', down)('x')).rejects.not.toBeInstanceOf(RefreshRejected);
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

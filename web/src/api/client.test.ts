import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuth, sessionFromPayload } from './client';

// Issue 15: the dashboard kept the refresh token in localStorage, where any
// script on the page (an XSS, a compromised dependency) could read it and
// keep the session for 30 days. The browser's refresh token is now an
// HttpOnly cookie; the tab holds only the access token, in memory.
describe('the signed-in tab', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('writes no token where script can read it', () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('offline')));
    localStorage.clear();
    sessionStorage.clear();
    const auth = createAuth();
    // An AuthPayload as an API client gets it, refresh token included.
    auth.store.set(sessionFromPayload({ accessToken: 'eyJ.access', refreshToken: 'oais_rt_secret', expiresAt: '2030-01-01T00:00:00Z' }));
    const readable = JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie;
    expect(readable).not.toContain('oais_rt_secret');
    expect(readable).not.toContain('eyJ.access');
    expect(auth.store.get()?.accessToken).toBe('eyJ.access');
    auth.stop();
  });
});

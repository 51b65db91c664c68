import { MockedProvider } from '@apollo/client/testing';
import { render, screen } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { describe, expect, it, vi } from 'vitest';
import { Auth, RefreshRejected, SessionStore } from '../api/auth';
import { SessionProvider } from '../api/session';
import AuthCompletePage from './AuthCompletePage';

function renderAt(hash: string, refresh: () => Promise<{ accessToken: string; expiresAt: number }>) {
  window.history.replaceState(null, '', `/auth/complete${hash}`);
  const store = new SessionStore(null);
  const auth = new Auth(store, refresh, { withLock: (fn) => fn() });
  render(
    <MockedProvider>
      <SessionProvider auth={auth}>
        <MemoryRouter initialEntries={[`/auth/complete${hash}`]}>
          <Routes>
            <Route path="/auth/complete" element={<AuthCompletePage />} />
            <Route path="/" element={<p>Home</p>} />
          </Routes>
        </MemoryRouter>
      </SessionProvider>
    </MockedProvider>,
  );
  return store;
}

// Issue 15: the SSO landing used to sign in with whatever tokens the
// #fragment carried, so a crafted link put a victim into the attacker's
// account. Now the session comes only from this browser's own cookie.
describe('AuthCompletePage', () => {
  const crafted = '#access_token=attackers-access&refresh_token=oais_rt_attackers&expires_at=2099-01-01T00:00:00Z';

  it('ignores tokens in a crafted link, and signs in with nothing when the browser has no cookie', async () => {
    const refresh = vi.fn().mockRejectedValue(new RefreshRejected());
    const store = renderAt(crafted, refresh);
    await screen.findByText("Single sign-on didn't finish");
    expect(store.get()).toBeNull();
    expect(refresh).toHaveBeenCalled();
    expect(window.location.hash).toBe('');
  });

  it('takes the session from the refresh cookie, never from the link', async () => {
    const refresh = vi.fn().mockResolvedValue({ accessToken: 'own-access', expiresAt: Date.now() + 600_000 });
    const store = renderAt(crafted, refresh);
    await screen.findByText('Home');
    expect(store.get()?.accessToken).toBe('own-access');
  });
});

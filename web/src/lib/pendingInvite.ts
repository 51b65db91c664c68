// An invitation's token has to survive its holder signing in, signing up
// and confirming their address, which may happen in another tab (the
// confirmation link opens one). It is kept in localStorage until the
// invitation is accepted or turns out to be dead.

const KEY = 'oais.pendingInvite';

/** rememberInvite keeps token for the accept page. */
export function rememberInvite(token: string, storage: Storage = localStorage): void {
  try {
    storage.setItem(KEY, token);
  } catch {
    // Private mode without storage: the link in the e-mail still works.
  }
}

/** pendingInvite returns the token of an invitation not yet accepted, if any. */
export function pendingInvite(storage: Storage = localStorage): string | null {
  try {
    return storage.getItem(KEY);
  } catch {
    return null;
  }
}

/** forgetInvite drops the kept token (accepted, or no longer valid). */
export function forgetInvite(storage: Storage = localStorage): void {
  try {
    storage.removeItem(KEY);
  } catch {
    // Nothing kept.
  }
}

/** takeToken reads ?token= from the address bar and removes it from the address and history. */
export function takeToken(): string | null {
  const token = new URLSearchParams(window.location.search).get('token');
  if (token) window.history.replaceState(window.history.state, '', window.location.pathname);
  return token;
}

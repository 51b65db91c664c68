import { useEffect, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { parseExpiresAt } from '../api/auth';
import { useSession } from '../api/session';

/**
 * AuthCompletePage ends SSO: the callback redirects here with the tokens in
 * the URL fragment (never sent to a server). It stores them and removes the
 * fragment from the address bar and history at once.
 */
export default function AuthCompletePage() {
  const session = useSession();
  const navigate = useNavigate();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    window.history.replaceState(null, '', window.location.pathname);
    const accessToken = params.get('access_token');
    const refreshToken = params.get('refresh_token');
    const expiresAt = parseExpiresAt(params.get('expires_at') ?? '');
    if (!accessToken || !refreshToken || Number.isNaN(expiresAt)) {
      setFailed(true);
      return;
    }
    session.begin({ accessToken, refreshToken, expiresAt });
    navigate('/', { replace: true });
    // Runs once: the fragment is gone after the first pass.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <div className="auth-page">
      <div className="auth-card">
        {failed ? (
          <>
            <h1>Single sign-on didn't finish</h1>
            <p className="muted">The sign-in link was incomplete or already used. Start again from the sign-in page.</p>
            <Link className="button button-primary" to="/signin">
              Back to sign in
            </Link>
          </>
        ) : (
          <p role="status">Signing you in…</p>
        )}
      </div>
    </div>
  );
}

import { useEffect, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { useSession } from '../api/session';

/**
 * AuthCompletePage ends SSO. The callback has set the HttpOnly refresh
 * cookie; this page exchanges it for an access token. Nothing in the URL
 * is read: tokens in a link (a #fragment, as this page once accepted)
 * would let anyone sign a visitor into their own account.
 */
export default function AuthCompletePage() {
  const session = useSession();
  const navigate = useNavigate();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    // Whatever a link carried leaves the address bar and history unread.
    if (window.location.hash || window.location.search) window.history.replaceState(null, '', window.location.pathname);
    let live = true;
    void session.resume().then((ok) => {
      if (!live) return;
      if (ok) navigate('/', { replace: true });
      else setFailed(true);
    });
    return () => {
      live = false;
    };
    // Runs once.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <div className="auth-page">
      <div className="auth-card">
        {failed ? (
          <>
            <h1>Single sign-on didn't finish</h1>
            <p className="muted">This browser has no sign-in to complete. Start again from the sign-in page.</p>
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

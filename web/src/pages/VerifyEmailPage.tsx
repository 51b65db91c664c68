import { useMutation } from '@apollo/client';
import { useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { pendingInvite, takeToken } from '../lib/pendingInvite';

const VerifyEmail = graphql(`
  mutation VerifyEmail($token: String!) {
    verifyEmail(token: $token)
  }
`);

/** VerifyEmailPage confirms an address with the link mailed to it (/verify-email?token=…); signed in or not. */
export default function VerifyEmailPage() {
  const [token] = useState(takeToken);
  const [verify, { data, error }] = useMutation(VerifyEmail, { refetchQueries: 'active' });
  const started = useRef(false);
  useEffect(() => {
    // Once, even under StrictMode's double effects: a link works once.
    if (!token || started.current) return;
    started.current = true;
    verify({ variables: { token } }).catch(() => undefined);
  }, [token, verify]);
  const invite = pendingInvite();
  return (
    <div className="auth-page">
      <div className="auth-card">
        {!token ? (
          <>
            <h1>No link here</h1>
            <p className="muted">Open the link in your confirmation e-mail again.</p>
          </>
        ) : data?.verifyEmail ? (
          <>
            <h1>Address confirmed</h1>
            <p className="muted">Thank you. This account can now accept invitations sent to its address.</p>
            {invite ? (
              <Link className="button button-primary button-block" to="/invite/accept">
                Continue to your invitation
              </Link>
            ) : (
              <Link className="button button-primary button-block" to="/">
                Go to the dashboard
              </Link>
            )}
          </>
        ) : error ? (
          <>
            <h1>This link didn't work</h1>
            <p className="form-error" role="alert">
              {describeError(error)}
            </p>
            <p className="muted">Signed in, you can send yourself a new link from the dashboard.</p>
            <Link className="button button-secondary" to="/">
              Go to the dashboard
            </Link>
          </>
        ) : (
          <p role="status">Confirming your address…</p>
        )}
      </div>
    </div>
  );
}

import { useMutation } from '@apollo/client';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { sessionFromPayload } from '../api/client';
import { describeError } from '../api/errors';
import { useSession } from '../api/session';
import { graphql } from '../gql';
import { takeToken } from '../lib/pendingInvite';

const RequestPasswordReset = graphql(`
  mutation RequestPasswordReset($email: String!) {
    requestPasswordReset(email: $email)
  }
`);

const ResetPassword = graphql(`
  mutation ResetPassword($token: String!, $password: String!) {
    resetPassword(token: $token, password: $password) {
      accessToken
      expiresAt
      user {
        id
        email
      }
    }
  }
`);

/**
 * ResetPasswordPage asks for a reset link (/reset-password), or sets a new
 * password with one (/reset-password?token=…), which signs every other
 * session of the account out.
 */
export default function ResetPasswordPage() {
  const [token] = useState(takeToken);
  return (
    <div className="auth-page">
      <div className="auth-card">{token ? <NewPassword token={token} /> : <AskForLink />}</div>
    </div>
  );
}

function AskForLink() {
  const [email, setEmail] = useState('');
  const [ask, { data, loading, error }] = useMutation(RequestPasswordReset);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await ask({ variables: { email: email.trim() } }).catch(() => undefined);
  };
  if (data?.requestPasswordReset) {
    return (
      <>
        <h1>Check your e-mail</h1>
        <p className="muted">If an account uses {email.trim()}, we sent it a link to choose a new password. The link works for an hour.</p>
        <Link className="button button-secondary" to="/signin">
          Back to sign in
        </Link>
      </>
    );
  }
  return (
    <form className="form" onSubmit={submit} aria-label="Reset your password">
      <h1>Reset your password</h1>
      <p className="muted">We'll e-mail you a link to choose a new one.</p>
      <div className="field">
        <label className="field-label" htmlFor="reset-email">
          E-mail
        </label>
        <input id="reset-email" className="input" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </div>
      {error && (
        <p className="form-error" role="alert">
          {describeError(error)}
        </p>
      )}
      <button type="submit" className="button button-primary button-block" disabled={loading}>
        {loading ? 'Sending…' : 'Send the link'}
      </button>
      <Link to="/signin">Back to sign in</Link>
    </form>
  );
}

function NewPassword({ token }: { token: string }) {
  const session = useSession();
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const [reset, { loading, error }] = useMutation(ResetPassword);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const payload = (await reset({ variables: { token, password } })).data?.resetPassword;
      if (payload) {
        session.begin(sessionFromPayload(payload));
        navigate('/', { replace: true });
      }
    } catch {
      // Shown below.
    }
  };
  return (
    <form className="form" onSubmit={submit} aria-label="Choose a new password">
      <h1>Choose a new password</h1>
      <p className="muted">Every other session of your account is signed out.</p>
      <div className="field">
        <label className="field-label" htmlFor="new-password">
          New password
        </label>
        <input
          id="new-password"
          className="input"
          type="password"
          autoComplete="new-password"
          required
          minLength={12}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <span className="field-hint">At least 12 characters.</span>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {describeError(error)}
        </p>
      )}
      <button type="submit" className="button button-primary button-block" disabled={loading}>
        {loading ? 'Saving…' : 'Set the new password'}
      </button>
    </form>
  );
}

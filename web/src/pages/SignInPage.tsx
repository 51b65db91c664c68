import { useMutation } from '@apollo/client';
import * as Tabs from '@radix-ui/react-tabs';
import { useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router';
import { sessionFromPayload } from '../api/client';
import { describeError, errorCode } from '../api/errors';
import { useSession } from '../api/session';
import { graphql } from '../gql';

const SignIn = graphql(`
  mutation SignIn($email: String!, $password: String!, $otp: String) {
    signIn(email: $email, password: $password, otp: $otp) {
      accessToken
      expiresAt
      user {
        id
        email
      }
    }
  }
`);

const SignUp = graphql(`
  mutation SignUp($email: String!, $password: String!) {
    signUp(email: $email, password: $password) {
      accessToken
      expiresAt
      user {
        id
        email
      }
    }
  }
`);

/** SSO_ERRORS explain the codes the SSO callback puts in /signin?error=. */
export const SSO_ERRORS: Record<string, string> = {
  sso_not_configured: 'Single sign-on is not set up on this server. Sign in with your e-mail and password.',
  sso_state: 'The sign-in link expired or was opened in another browser. Start single sign-on again.',
  sso_provider: 'Your identity provider reported a problem. Try again in a moment.',
  sso_token: 'Your identity provider sent a sign-in we could not verify. Try again, or ask your administrator.',
  sso_email: 'Your identity provider did not share a verified e-mail address, which oais needs to sign you in.',
  sso_account_exists: 'An account with this e-mail already exists. Sign in with its password first.',
  account_disabled: 'This account is disabled. Ask a workspace owner or your administrator.',
  server_error: 'Something went wrong on our side while signing you in. Try again in a moment.',
};

/** SignInPage signs in with a password or SSO, or creates an account. */
export default function SignInPage() {
  const session = useSession();
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  if (session.signedIn) return <Navigate to={next} replace />;
  return (
    <div className="auth-page">
      <div className="auth-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            o
          </span>
          <span className="brand-name">oais</span>
        </div>
        <p className="muted">The control plane for your OpenAI-compatible API keys.</p>
        {params.get('error') && (
          <p className="banner banner-error" role="alert">
            {SSO_ERRORS[params.get('error') ?? ''] ?? 'Single sign-on did not finish. Try again, or sign in with your password.'}
          </p>
        )}
        {params.get('expired') && (
          <p className="banner banner-info" role="status">
            Your session ended. Sign in again to pick up where you left off.
          </p>
        )}
        <Tabs.Root defaultValue="sign-in" className="tabs">
          <Tabs.List className="tabs-list" aria-label="Sign in or create an account">
            <Tabs.Trigger value="sign-in" className="tabs-trigger">
              Sign in
            </Tabs.Trigger>
            <Tabs.Trigger value="sign-up" className="tabs-trigger">
              Create account
            </Tabs.Trigger>
          </Tabs.List>
          <Tabs.Content value="sign-in" className="tabs-content">
            <CredentialsForm mode="sign-in" next={next} />
          </Tabs.Content>
          <Tabs.Content value="sign-up" className="tabs-content">
            <CredentialsForm mode="sign-up" next={next} />
          </Tabs.Content>
        </Tabs.Root>
        <p className="small">
          <Link to="/reset-password">Forgot your password?</Link>
        </p>
        <div className="divider">
          <span>or</span>
        </div>
        <a className="button button-secondary button-block" href="/auth/oidc/login">
          Sign in with SSO
        </a>
      </div>
    </div>
  );
}

function CredentialsForm({ mode, next }: { mode: 'sign-in' | 'sign-up'; next: string }) {
  const session = useSession();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  // Set once the server answered OTP_REQUIRED: the account has two-factor sign-in.
  const [otp, setOtp] = useState<string | null>(null);
  const [signIn, signInState] = useMutation(SignIn);
  const [signUp, signUpState] = useMutation(SignUp);
  const state = mode === 'sign-in' ? signInState : signUpState;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const vars = { variables: { email: email.trim(), password } };
      const payload =
        mode === 'sign-in'
          ? (await signIn({ variables: { ...vars.variables, otp: otp?.trim() || null } })).data?.signIn
          : (await signUp(vars)).data?.signUp;
      if (payload) {
        session.begin(sessionFromPayload(payload));
        navigate(next, { replace: true });
      }
    } catch (err) {
      // Shown below from the mutation state; a second factor asks for its code.
      if (mode === 'sign-in' && errorCode(err) === 'OTP_REQUIRED' && otp === null) setOtp('');
    }
  };
  const id = mode;
  const code = state.error && errorCode(state.error);
  const message =
    state.error &&
    (mode === 'sign-in' && code === 'UNAUTHENTICATED'
      ? 'That e-mail and password do not match an account. Check them and try again.'
      : code === 'OTP_REQUIRED'
        ? null
        : describeError(state.error));
  return (
    <form className="form" onSubmit={submit} aria-label={mode === 'sign-in' ? 'Sign in' : 'Create account'}>
      <div className="field">
        <label className="field-label" htmlFor={`${id}-email`}>
          E-mail
        </label>
        <input id={`${id}-email`} className="input" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </div>
      <div className="field">
        <label className="field-label" htmlFor={`${id}-password`}>
          Password
        </label>
        <input
          id={`${id}-password`}
          className="input"
          type="password"
          autoComplete={mode === 'sign-in' ? 'current-password' : 'new-password'}
          required
          minLength={mode === 'sign-up' ? 12 : undefined}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {mode === 'sign-up' && <span className="field-hint">At least 12 characters.</span>}
      </div>
      {otp !== null && (
        <div className="field">
          <label className="field-label" htmlFor={`${id}-otp`}>
            Authentication code
          </label>
          <input
            id={`${id}-otp`}
            className="input"
            autoComplete="one-time-code"
            inputMode="text"
            required
            autoFocus
            value={otp}
            onChange={(e) => setOtp(e.target.value)}
          />
          <span className="field-hint">The 6-digit code from your authenticator app, or one of your recovery codes.</span>
        </div>
      )}
      {message && (
        <p className="form-error" role="alert">
          {message}
        </p>
      )}
      <button type="submit" className="button button-primary button-block" disabled={state.loading}>
        {state.loading ? 'Please wait…' : mode === 'sign-in' ? 'Sign in' : 'Create account'}
      </button>
    </form>
  );
}

/** safeNext only follows same-origin paths, so ?next= cannot redirect off-site. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

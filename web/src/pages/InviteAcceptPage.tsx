import { useMutation, useQuery } from '@apollo/client';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { describeError, errorCode } from '../api/errors';
import { useSession } from '../api/session';
import { ErrorBanner, Loading } from '../components/Feedback';
import { ShellViewer } from '../components/Shell';
import { graphql } from '../gql';
import { forgetInvite, pendingInvite, rememberInvite, takeToken } from '../lib/pendingInvite';

const InviteViewer = graphql(`
  query InviteViewer {
    viewer {
      id
      email
      emailVerified
    }
  }
`);

const AcceptInvite = graphql(`
  mutation AcceptInvite($token: String!) {
    acceptInvite(token: $token) {
      id
      role
      workspace {
        id
        name
      }
    }
  }
`);

const SendVerificationEmail = graphql(`
  mutation SendVerificationEmail {
    sendVerificationEmail
  }
`);

/**
 * InviteAcceptPage is where an invitation's link lands (/invite/accept?token=…).
 * Signed out, it sends the visitor to sign in or sign up and back; signed in,
 * it accepts for the viewer, whose confirmed address must be the invited one.
 */
export default function InviteAcceptPage() {
  const session = useSession();
  const [token] = useState(() => {
    const t = takeToken();
    if (t) rememberInvite(t);
    return t ?? pendingInvite();
  });
  return (
    <div className="auth-page">
      <div className="auth-card">
        {!token ? (
          <>
            <h1>No invitation here</h1>
            <p className="muted">Open the link in your invitation e-mail again.</p>
            <Link className="button button-secondary" to="/">
              Go to the dashboard
            </Link>
          </>
        ) : session.signedIn ? (
          <Accept token={token} />
        ) : (
          <>
            <h1>You're invited to a workspace</h1>
            <p className="muted">
              Sign in, or create an account, with the e-mail address the invitation was sent to. You'll come back here to accept it.
            </p>
            <Link className="button button-primary button-block" to={`/signin?next=${encodeURIComponent('/invite/accept')}`}>
              Sign in or create an account
            </Link>
          </>
        )}
      </div>
    </div>
  );
}

function Accept({ token }: { token: string }) {
  const navigate = useNavigate();
  const { data, loading, error, refetch } = useQuery(InviteViewer, { fetchPolicy: 'cache-and-network' });
  const [accept, accepting] = useMutation(AcceptInvite, { refetchQueries: [ShellViewer], awaitRefetchQueries: true });
  const [resend, resending] = useMutation(SendVerificationEmail);
  const [sent, setSent] = useState(false);
  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const viewer = data?.viewer;
  const code = accepting.error && errorCode(accepting.error);
  const onAccept = async () => {
    try {
      const res = await accept({ variables: { token } });
      forgetInvite();
      const ws = res.data?.acceptInvite.workspace;
      if (ws) navigate(`/w/${ws.id}/keys`, { replace: true });
    } catch (err) {
      if (errorCode(err) === 'LINK_INVALID') forgetInvite();
    }
  };
  return (
    <>
      <h1>Accept your invitation</h1>
      <p className="muted">Signed in as {viewer?.email}. The invitation is for the address it was sent to.</p>
      {viewer && !viewer.emailVerified && (
        <div className="banner banner-warning" role="status">
          <p>
            Confirm your e-mail address first: open the link we sent to {viewer.email}, then come back here.
          </p>
          <button
            type="button"
            className="button button-secondary button-small"
            disabled={resending.loading || sent}
            onClick={async () => {
              try {
                await resend();
                setSent(true);
              } catch {
                // Shown below.
              }
            }}
          >
            {sent ? 'Link sent' : 'Send a new link'}
          </button>
          {resending.error && <p className="form-error">{describeError(resending.error)}</p>}
        </div>
      )}
      {accepting.error && (
        <p className="form-error" role="alert">
          {describeError(accepting.error)}
        </p>
      )}
      {code === 'LINK_INVALID' ? (
        <Link className="button button-secondary button-block" to="/">
          Go to the dashboard
        </Link>
      ) : (
        <button type="button" className="button button-primary button-block" disabled={accepting.loading} onClick={onAccept}>
          {accepting.loading ? 'Accepting…' : 'Accept invitation'}
        </button>
      )}
    </>
  );
}

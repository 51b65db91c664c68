import { useMutation, useQuery } from '@apollo/client';
import { QRCodeSVG } from 'qrcode.react';
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { describeError } from '../api/errors';
import { useSession } from '../api/session';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { graphql } from '../gql';
import { formatDateTime } from '../lib/format';

const AccountSecurity = graphql(`
  query AccountSecurity {
    viewer {
      id
      mfaEnabled
      mfaRequired
    }
    sessions {
      id
      createdAt
      lastUsedAt
      userAgent
      ip
      method
      current
    }
  }
`);

const EnrollTOTP = graphql(`
  mutation EnrollTOTP {
    enrollTOTP {
      secret
      uri
    }
  }
`);

const ConfirmTOTP = graphql(`
  mutation ConfirmTOTP($code: String!) {
    confirmTOTP(code: $code)
  }
`);

const DisableTOTP = graphql(`
  mutation DisableTOTP($code: String!) {
    disableTOTP(code: $code)
  }
`);

const RevokeSession = graphql(`
  mutation RevokeSession($id: ID!) {
    revokeSession(id: $id)
  }
`);

const SignOutEverywhere = graphql(`
  mutation SignOutEverywhere {
    signOutEverywhere
  }
`);

/** SecurityPage is the viewer's own account security: two-factor sign-in and where they are signed in. */
export default function SecurityPage() {
  const { data, loading, error, refetch } = useQuery(AccountSecurity, { fetchPolicy: 'network-only' });
  if (error) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  if (!data) return null;
  return (
    <>
      <PageHeader title="Account security" description="Two-factor sign-in, and the browsers and clients signed in to your account." />
      <TwoFactor enabled={data.viewer.mfaEnabled} onChange={() => refetch()} />
      <Sessions sessions={data.sessions} onChange={() => refetch()} />
    </>
  );
}

function TwoFactor({ enabled, onChange }: { enabled: boolean; onChange(): void }) {
  const [enroll, enrollState] = useMutation(EnrollTOTP);
  const [confirm, confirmState] = useMutation(ConfirmTOTP);
  const [disable, disableState] = useMutation(DisableTOTP);
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState<readonly string[] | null>(null);
  const enrolment = enrollState.data?.enrollTOTP;

  const submitConfirm = async (e: FormEvent) => {
    e.preventDefault();
    const res = await confirm({ variables: { code: code.trim() } }).catch(() => null);
    if (res?.data) {
      setRecovery(res.data.confirmTOTP);
      setCode('');
      enrollState.reset();
      onChange();
    }
  };
  const submitDisable = async (e: FormEvent) => {
    e.preventDefault();
    const res = await disable({ variables: { code: code.trim() } }).catch(() => null);
    if (res?.data) {
      setCode('');
      onChange();
    }
  };

  return (
    <section className="card" aria-labelledby="mfa-heading">
      <h2 id="mfa-heading">Two-factor sign-in</h2>
      {recovery ? (
        <div>
          <p className="banner banner-warning" role="note">
            <strong>Save these recovery codes now — you will not see them again.</strong> Each one signs you in once if you lose
            your authenticator.
          </p>
          <ul className="recovery-codes" aria-label="Recovery codes">
            {recovery.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
          <button type="button" className="button button-primary" onClick={() => setRecovery(null)}>
            I've saved them
          </button>
        </div>
      ) : enabled ? (
        <form className="form" onSubmit={submitDisable} aria-label="Turn off two-factor sign-in">
          <p>
            <span className="chip chip-green">On</span> Signing in asks for a code from your authenticator app.
          </p>
          <div className="field">
            <label className="field-label" htmlFor="mfa-disable-code">
              Code to turn it off
            </label>
            <input id="mfa-disable-code" className="input" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} required />
          </div>
          {disableState.error && (
            <p className="form-error" role="alert">
              {describeError(disableState.error)}
            </p>
          )}
          <button type="submit" className="button button-secondary" disabled={disableState.loading || !code.trim()}>
            Turn off two-factor sign-in
          </button>
        </form>
      ) : enrolment ? (
        <form className="form" onSubmit={submitConfirm} aria-label="Confirm two-factor sign-in">
          <p>Scan this QR code with your authenticator app (or type the key), then enter the 6-digit code it shows.</p>
          <div className="qr" role="img" aria-label="QR code for your authenticator app">
            <QRCodeSVG value={enrolment.uri} size={184} marginSize={2} />
          </div>
          <p className="small">
            Key: <code aria-label="Authenticator key">{enrolment.secret}</code>
          </p>
          <div className="field">
            <label className="field-label" htmlFor="mfa-confirm-code">
              Code from the app
            </label>
            <input
              id="mfa-confirm-code"
              className="input"
              autoComplete="one-time-code"
              inputMode="numeric"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              required
            />
          </div>
          {confirmState.error && (
            <p className="form-error" role="alert">
              {describeError(confirmState.error)}
            </p>
          )}
          <button type="submit" className="button button-primary" disabled={confirmState.loading || !code.trim()}>
            Turn on
          </button>
        </form>
      ) : (
        <div>
          <p className="muted">Off. With it on, signing in needs your password and a code from an authenticator app.</p>
          {enrollState.error && (
            <p className="form-error" role="alert">
              {describeError(enrollState.error)}
            </p>
          )}
          <button type="button" className="button button-primary" disabled={enrollState.loading} onClick={() => enroll().catch(() => undefined)}>
            Set up two-factor sign-in
          </button>
        </div>
      )}
    </section>
  );
}

type SessionRow = {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  userAgent: string;
  ip: string | null;
  method: string;
  current: boolean;
};

function Sessions({ sessions, onChange }: { sessions: readonly SessionRow[]; onChange(): void }) {
  const session = useSession();
  const navigate = useNavigate();
  const [revoke, revokeState] = useMutation(RevokeSession);
  const [everywhere, everywhereState] = useMutation(SignOutEverywhere);
  const [confirmAll, setConfirmAll] = useState(false);
  const error = revokeState.error ?? everywhereState.error;
  return (
    <section className="card" aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Where you're signed in</h2>
      {error && (
        <p className="form-error" role="alert">
          {describeError(error)}
        </p>
      )}
      <table className="table" aria-label="Sessions">
        <thead>
          <tr>
            <th scope="col">Client</th>
            <th scope="col">Address</th>
            <th scope="col">Signed in</th>
            <th scope="col">Last used</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id}>
              <td>
                {describeAgent(s.userAgent)} <span className="muted">({s.method})</span>
                {s.current && <span className="chip chip-green"> This browser</span>}
              </td>
              <td>{s.ip ?? '—'}</td>
              <td>{formatDateTime(s.createdAt)}</td>
              <td>{formatDateTime(s.lastUsedAt)}</td>
              <td>
                {!s.current && (
                  <button
                    type="button"
                    className="button button-ghost button-small"
                    aria-label={`Sign out ${describeAgent(s.userAgent)} signed in ${formatDateTime(s.createdAt)}`}
                    disabled={revokeState.loading}
                    onClick={async () => {
                      const res = await revoke({ variables: { id: s.id } }).catch(() => null);
                      if (res?.data) onChange();
                    }}
                  >
                    Sign out
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" className="button button-secondary" onClick={() => setConfirmAll(true)}>
        Sign out everywhere
      </button>
      <ConfirmDialog
        open={confirmAll}
        onOpenChange={setConfirmAll}
        title="Sign out everywhere?"
        description="Every browser and client signed in to your account is signed out, this one included."
        confirmLabel="Sign out everywhere"
        onConfirm={async () => {
          await everywhere().catch(() => null);
          await session.end();
          navigate('/signin', { replace: true });
        }}
      />
    </section>
  );
}

/** describeAgent shortens a User-Agent to the browser and system a person recognises. */
export function describeAgent(ua: string): string {
  if (!ua) return 'Unknown client';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : ua.split(/[ /]/)[0] || 'Unknown client';
  const os = /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

import { useQuery } from '@apollo/client';
import { useState } from 'react';
import { Navigate } from 'react-router';
import { ErrorBanner, Loading } from '../components/Feedback';
import { NewWorkspaceDialog, ShellViewer } from '../components/Shell';

/** HomePage opens the first workspace, or offers to create one. */
export default function HomePage() {
  const { data, loading, error, refetch } = useQuery(ShellViewer);
  const [open, setOpen] = useState(false);
  if (error) return <div className="auth-page"><ErrorBanner error={error} onRetry={() => refetch()} /></div>;
  if (loading && !data) return <div className="auth-page"><Loading /></div>;
  const first = data?.viewer.memberships[0];
  if (first) return <Navigate to={`/w/${first.workspace.id}/keys`} replace />;
  return (
    <div className="auth-page">
      <div className="auth-card">
        <h1>Create your first workspace</h1>
        <p className="muted">
          Workspaces hold API keys, limits, billing and members. Signed in as {data?.viewer.email}.
        </p>
        <button type="button" className="button button-primary button-block" onClick={() => setOpen(true)}>
          New workspace
        </button>
      </div>
      <NewWorkspaceDialog open={open} onOpenChange={setOpen} />
    </div>
  );
}

import { Link } from 'react-router';

/** NotFoundPage answers client-side routes that do not exist. */
export default function NotFoundPage() {
  return (
    <div className="auth-page">
      <div className="auth-card">
        <h1>Page not found</h1>
        <p className="muted">The address doesn't match any page of the dashboard.</p>
        <Link className="button button-primary" to="/">
          Go to the dashboard
        </Link>
      </div>
    </div>
  );
}

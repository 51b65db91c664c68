import { useQuery } from '@apollo/client';
import { EmptyState, ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { graphql } from '../gql';
import { formatDateTime, formatRelative } from '../lib/format';
import { POLL_MS } from './KeysPage';

/** GatewaysQuery lists the named gateways; the key dialogs offer them too. */
export const GatewaysQuery = graphql(`
  query Gateways {
    gateways {
      name
      lastSeenAt
    }
  }
`);

/** GatewaysPage shows every named gateway (OAIS_GATEWAY_NAME) and when it last reported. */
export default function GatewaysPage() {
  const { data, loading, error, refetch } = useQuery(GatewaysQuery, { pollInterval: POLL_MS });
  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const gws = data?.gateways ?? [];
  return (
    <div className="page">
      <PageHeader
        title="Gateways"
        description="Gateways started with OAIS_GATEWAY_NAME report themselves every 30 seconds. A key bound to one is refused (401) by every other."
      />
      {gws.length === 0 ? (
        <EmptyState title="No named gateways yet">Start a gateway with OAIS_GATEWAY_NAME=eu-prod and it appears here within seconds.</EmptyState>
      ) : (
        <div className="table-wrap card card-flush">
          <table className="table" aria-label="Gateways">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {gws.map((g) => (
                <tr key={g.name}>
                  <td>{g.name}</td>
                  <td title={formatDateTime(g.lastSeenAt)}>{formatRelative(g.lastSeenAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

import { useQuery } from '@apollo/client';
import { graphql } from '../gql';
import { formatMultiplier } from '../lib/groups';
import { SelectField } from './SelectField';

const KeyScopeOptions = graphql(`
  query KeyScopeOptions {
    groups {
      id
      name
      priceMultiplierBps
    }
    gateways {
      name
    }
  }
`);

/** NO_GROUP and ANY_GATEWAY are the selects' "none" values (Radix forbids ""). */
export const NO_GROUP = 'none';
export const ANY_GATEWAY = 'any';

/**
 * KeyScopeFields picks a key's group and the one gateway it is valid on,
 * from the groups and the gateways that reported themselves. A key bound
 * to a gateway is refused (401) by every other.
 */
export function KeyScopeFields({
  group,
  gateway,
  onGroup,
  onGateway,
}: {
  group: string;
  gateway: string;
  onGroup(v: string): void;
  onGateway(v: string): void;
}) {
  const { data } = useQuery(KeyScopeOptions);
  const groups = data?.groups ?? [];
  const gateways = data?.gateways ?? [];
  // A key bound to a gateway that has not reported (yet) keeps its name.
  const gwOptions = gateways.map((g) => ({ value: g.name, label: g.name }));
  if (gateway !== ANY_GATEWAY && !gwOptions.some((o) => o.value === gateway)) gwOptions.push({ value: gateway, label: gateway });
  return (
    <div className="form-grid">
      <SelectField
        label="Group"
        value={group}
        onChange={onGroup}
        options={[{ value: NO_GROUP, label: "The workspace's" }, ...groups.map((g) => ({ value: g.id, label: `${g.name} (${formatMultiplier(g.priceMultiplierBps)})` }))]}
      />
      <SelectField label="Gateway" value={gateway} onChange={onGateway} options={[{ value: ANY_GATEWAY, label: 'Every gateway' }, ...gwOptions]} />
    </div>
  );
}

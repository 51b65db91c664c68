import type { ApiKeyStatus } from '../gql/graphql';

/** StatusMeta is how one API key status looks and reads in the UI. */
export interface StatusMeta {
  label: string;
  tone: 'green' | 'orange' | 'red' | 'yellow' | 'grey';
  description: string;
}

/**
 * KEY_STATUS maps every APIKeyStatus to its chip. Colour always comes with
 * the word, never alone (WCAG 1.4.1).
 */
export const KEY_STATUS: Record<ApiKeyStatus, StatusMeta> = {
  ACTIVE: { label: 'Active', tone: 'green', description: 'Valid and usable' },
  EXPIRED: { label: 'Expired', tone: 'orange', description: 'Past its expiry time' },
  REVOKED: { label: 'Revoked', tone: 'red', description: 'Deactivated; requests are refused' },
  RATE_LIMITED: { label: 'Rate limited', tone: 'yellow', description: 'Reached its request limit' },
  DISABLED: { label: 'Disabled', tone: 'grey', description: 'Paused; can be enabled again' },
};

/** statusMeta returns the chip of a status, tolerating values newer than this build. */
export function statusMeta(status: string): StatusMeta {
  return (KEY_STATUS as Record<string, StatusMeta>)[status] ?? {
    label: status.charAt(0) + status.slice(1).toLowerCase().replace(/_/g, ' '),
    tone: 'grey',
    description: '',
  };
}

import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { StatusChip } from '../components/StatusChip';
import { KEY_STATUS, statusMeta } from './status';

describe('key status chips', () => {
  it.each([
    ['ACTIVE', 'Active', 'green'],
    ['EXPIRED', 'Expired', 'orange'],
    ['REVOKED', 'Revoked', 'red'],
    ['RATE_LIMITED', 'Rate limited', 'yellow'],
    ['DISABLED', 'Disabled', 'grey'],
  ] as const)('%s is %s in %s', (status, label, tone) => {
    expect(KEY_STATUS[status]).toMatchObject({ label, tone });
  });

  it('says the status in words, not colour only', () => {
    render(<StatusChip status="RATE_LIMITED" />);
    expect(screen.getByText('Rate limited')).toBeVisible();
    expect(screen.getByTitle('Reached its request limit')).toBeInTheDocument();
  });

  it('shows statuses newer than this build as words', () => {
    expect(statusMeta('SUSPENDED_BY_ADMIN')).toMatchObject({ label: 'Suspended by admin', tone: 'grey' });
  });
});

import { MockedProvider, type MockedResponse } from '@apollo/client/testing';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { ToastProvider } from '../components/Toast';
import MembersPage, { MembersPageQuery, RemoveMember } from './MembersPage';

const page: MockedResponse = {
  request: { query: MembersPageQuery, variables: { workspaceID: 'ws_1' } },
  result: {
    data: {
      viewer: { __typename: 'Viewer', id: 'usr_owner' },
      workspace: {
        __typename: 'Workspace',
        id: 'ws_1',
        name: 'Acme',
        viewerRole: 'OWNER',
        invitations: [],
        memberships: {
          __typename: 'MembershipConnection',
          totalCount: 2,
          edges: [
            { id: 'mem_1', role: 'OWNER', user: { id: 'usr_owner', email: 'owner@acme.test' } },
            { id: 'mem_2', role: 'DEVELOPER', user: { id: 'usr_dev', email: 'dev@acme.test' } },
          ].map((m) => ({
            __typename: 'MembershipEdge',
            node: { __typename: 'Membership', createdAt: '2026-01-02T10:00:00Z', ...m, user: { __typename: 'User', name: null, ...m.user } },
          })),
        },
      },
    },
  },
};

function renderPage(seen: { variables?: Record<string, unknown> }) {
  const remove: MockedResponse = {
    request: { query: RemoveMember },
    variableMatcher: (vars) => {
      seen.variables = vars;
      return true;
    },
    result: { data: { removeMember: true } },
  };
  render(
    <MockedProvider mocks={[page, remove, page]}>
      <ToastProvider>
        <MemoryRouter initialEntries={['/w/ws_1/members']}>
          <Routes>
            <Route path="/w/:workspaceID/members" element={<MembersPage />} />
          </Routes>
        </MemoryRouter>
      </ToastProvider>
    </MockedProvider>,
  );
}

describe('MembersPage', () => {
  it('asks whether to revoke the keys of a removed member, and sends the answer', async () => {
    const user = userEvent.setup();
    const seen: { variables?: Record<string, unknown> } = {};
    renderPage(seen);

    await user.click(await screen.findByRole('button', { name: 'Remove' }));
    const dialog = await screen.findByRole('alertdialog', { name: 'Remove dev@acme.test?' });
    const revoke = within(dialog).getByRole('checkbox', { name: 'Also revoke the API keys they created here' });
    expect(revoke).not.toBeChecked();
    expect(within(dialog).getByText('Left unchecked, those keys keep working.')).toBeVisible();

    await user.click(within(dialog).getByText('Also revoke the API keys they created here'));
    expect(revoke).toBeChecked();
    expect(within(dialog).getByText('Those keys stop working at once.')).toBeVisible();
    await user.click(within(dialog).getByRole('button', { name: 'Remove member' }));
    await waitFor(() => expect(seen.variables).toEqual({ membershipID: 'mem_2', revokeKeys: true }));
  });

  it('keeps the keys unless asked', async () => {
    const user = userEvent.setup();
    const seen: { variables?: Record<string, unknown> } = {};
    renderPage(seen);

    await user.click(await screen.findByRole('button', { name: 'Remove' }));
    const dialog = await screen.findByRole('alertdialog', { name: 'Remove dev@acme.test?' });
    await user.click(within(dialog).getByRole('button', { name: 'Remove member' }));
    await waitFor(() => expect(seen.variables).toEqual({ membershipID: 'mem_2', revokeKeys: false }));
  });
});

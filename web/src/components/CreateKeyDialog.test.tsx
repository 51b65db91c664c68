import { MockedProvider, type MockedResponse } from '@apollo/client/testing';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { CreateKey, CreateKeyDialog } from './CreateKeyDialog';

const SECRET = 'sk-oais-4mQ7c0ffeeB0bA1d3aD2e9fT5kL8nP1rS6uW0yZ3xV7aB9cD25xx';

function mocks(seen: { variables?: Record<string, unknown> }): MockedResponse[] {
  return [
    {
      request: { query: CreateKey },
      variableMatcher: (vars) => {
        seen.variables = vars;
        return true;
      },
      result: {
        data: {
          createAPIKey: {
            __typename: 'CreateAPIKeyPayload',
            secret: SECRET,
            apiKey: {
              __typename: 'APIKey',
              id: 'key_01HZX',
              label: 'prod-payments-worker',
              maskedKey: 'sk-oa**********25xx',
              status: 'ACTIVE',
              revokeReason: null,
              createdAt: '2026-11-23T10:00:00Z',
              expiresAt: '2026-11-24T10:00:00Z',
              lastUsedAt: null,
              requestCount: 0,
              maxRequests: 100,
              cacheHits: 0,
              graceUntil: null,
              requestsResetAt: null,
              creditQuotaCents: 2500,
              creditUsedMicros: 0,
            },
          },
        },
      },
    },
  ];
}

function Harness() {
  const [open, setOpen] = useState(true);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Open generator
      </button>
      <CreateKeyDialog workspaceID="ws_1" open={open} onOpenChange={setOpen} />
    </>
  );
}

describe('CreateKeyDialog', () => {
  it('shows the secret once, with a warning and a copy button, and forgets it on close', async () => {
    const user = userEvent.setup();
    const seen: { variables?: Record<string, unknown> } = {};
    render(
      <MockedProvider mocks={mocks(seen)}>
        <Harness />
      </MockedProvider>,
    );

    const dialog = await screen.findByRole('dialog', { name: 'Generate API key' });
    expect(dialog).toBeVisible();
    await user.type(screen.getByLabelText('Label'), 'prod-payments-worker');
    await user.clear(screen.getByLabelText('Max requests'));
    await user.type(screen.getByLabelText('Max requests'), '100');
    await user.type(screen.getByLabelText('Allowed models'), 'mock-gpt{enter}gpt-4o-mini,');
    expect(screen.getByRole('button', { name: 'Remove mock-gpt' })).toBeInTheDocument();
    await user.type(screen.getByLabelText('IP allow-list'), '203.0.113.0/24{enter}');
    await user.type(screen.getByLabelText('Credit quota'), '25');
    // The product guide's default lifetime is preselected.
    expect(screen.getByRole('radio', { name: '24 h' })).toBeChecked();
    await user.click(screen.getByRole('button', { name: 'Generate key' }));

    const secretBox = await screen.findByRole('textbox', { name: 'Your new API key' });
    expect(secretBox).toHaveValue(SECRET);
    expect(screen.getByText(/Copy it now — you will not see this key again/)).toBeVisible();
    expect(screen.getByRole('button', { name: 'Copy' })).toBeEnabled();
    expect(screen.getByRole('dialog', { name: 'Your new API key' })).toBeVisible();

    // The input the server saw: the default 24 h lifetime, limits and lists.
    const input = (seen.variables as { input: Record<string, unknown> }).input;
    expect(input).toMatchObject({
      workspaceID: 'ws_1',
      label: 'prod-payments-worker',
      durationHours: 24,
      maxRequests: 100,
      creditQuotaCents: 2500,
      allowedModels: ['mock-gpt', 'gpt-4o-mini'],
      ipAllowlist: ['203.0.113.0/24'],
    });
    expect(input.expiresAt).toBeUndefined();

    await user.click(screen.getByRole('button', { name: /I've stored it/ }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(screen.queryByDisplayValue(SECRET)).not.toBeInTheDocument();

    // Reopening starts a fresh form: the secret is gone for good.
    await user.click(screen.getByRole('button', { name: 'Open generator' }));
    expect(await screen.findByRole('dialog', { name: 'Generate API key' })).toBeVisible();
    expect(screen.getByLabelText('Label')).toHaveValue('');
    expect(screen.queryByText(SECRET)).not.toBeInTheDocument();
    expect(screen.queryByDisplayValue(SECRET)).not.toBeInTheDocument();
  });

  it('explains a bad IP allow-list entry instead of sending it', async () => {
    const user = userEvent.setup();
    render(
      <MockedProvider mocks={[]}>
        <Harness />
      </MockedProvider>,
    );
    await user.type(await screen.findByLabelText('IP allow-list'), 'office-wifi{enter}');
    expect(screen.getByText(/is not an IP address or CIDR range/)).toBeVisible();
    expect(screen.queryByRole('button', { name: 'Remove office-wifi' })).not.toBeInTheDocument();
  });

  it('takes a custom lifetime in hours, or none, and explains a bad one inline', async () => {
    const user = userEvent.setup();
    const seen: { variables?: Record<string, unknown> } = {};
    render(
      <MockedProvider mocks={mocks(seen)}>
        <Harness />
      </MockedProvider>,
    );
    await user.type(await screen.findByLabelText('Label'), 'ci');
    await user.click(screen.getByRole('radio', { name: 'Custom' }));
    await user.type(screen.getByLabelText('Custom duration in hours'), '0');
    await user.click(screen.getByRole('button', { name: 'Generate key' }));
    expect(screen.getByText(/between 1 and 87,600/)).toBeVisible();
    expect(seen.variables).toBeUndefined();
    await user.clear(screen.getByLabelText('Custom duration in hours'));
    await user.type(screen.getByLabelText('Custom duration in hours'), '36');
    await user.click(screen.getByRole('button', { name: 'Generate key' }));
    await screen.findByRole('textbox', { name: 'Your new API key' });
    expect((seen.variables as { input: Record<string, unknown> }).input).toMatchObject({ durationHours: 36, creditQuotaCents: 0 });
  });

  it('asks for a label before generating', async () => {
    const user = userEvent.setup();
    render(
      <MockedProvider mocks={[]}>
        <Harness />
      </MockedProvider>,
    );
    await user.click(await screen.findByRole('button', { name: 'Generate key' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Give the key a label');
  });
});

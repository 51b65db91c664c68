import { MockedProvider, type MockedResponse } from '@apollo/client/testing';
import { render, screen, within } from '@testing-library/react';
import { cloneElement, type ReactElement } from 'react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { describe, expect, it, vi } from 'vitest';
import { usageWindow } from '../lib/series';
import UsagePage, { UsagePageQuery } from './UsagePage';

// jsdom lays nothing out, so a ResponsiveContainer would draw at 0×0: give
// each chart a fixed size, so its bars are really drawn.
vi.mock('recharts', async (orig) => {
  const m = await orig<typeof import('recharts')>();
  return { ...m, ResponsiveContainer: ({ children }: { children: ReactElement }) => cloneElement(children, { width: 600, height: 220 } as never) };
});

const win = usageWindow('24h');
const at = win.from.replace(/:\d\d:\d\d(\.\d+)?Z$/, ':00:00Z');
const ZERO = { requests: 0, totalTokens: 0, costMicros: 0, errors: 0, avgLatencyMs: 0 };

const usage: MockedResponse = {
  request: { query: UsagePageQuery },
  variableMatcher: () => true,
  result: {
    data: {
      workspace: {
        __typename: 'Workspace',
        id: 'ws_1',
        usage: { __typename: 'UsageSummary', requests: 1, promptTokens: 10, completionTokens: 5, totalTokens: 15, costMicros: 42, cacheHits: 0, errors: 3 },
        usageSeries: [
          {
            __typename: 'UsagePoint',
            time: at,
            requests: 1,
            promptTokens: 10,
            completionTokens: 5,
            costMicros: 42,
            cacheHits: 0,
            errors: 3,
            p50LatencyMs: 12,
            p95LatencyMs: 20,
          },
        ],
        usageByModel: [{ __typename: 'UsageGroup', key: 'mock-gpt', label: 'mock-gpt', ...ZERO, requests: 1, errors: 3 }],
        usageByKey: [{ __typename: 'UsageGroup', key: 'key_1', label: 'errs', ...ZERO, requests: 1, errors: 3 }],
        usageByChannel: [{ __typename: 'UsageGroup', key: 'azure-east', label: 'azure-east', ...ZERO, requests: 1, errors: 3 }],
      },
    },
  },
};

describe('UsagePage', () => {
  it('plots the error events the analytics return', async () => {
    render(
      <MockedProvider mocks={[usage, usage, usage]}>
        <MemoryRouter initialEntries={['/w/ws_1/usage']}>
          <Routes>
            <Route path="/w/:workspaceID/usage" element={<UsagePage />} />
          </Routes>
        </MemoryRouter>
      </MockedProvider>,
    );
    const chart = await screen.findByRole('img', { name: 'Errors: 3 failed requests' });
    // One bar for the bucket with errors; recharts draws it as a path.
    expect(chart.querySelectorAll('path').length).toBeGreaterThan(0);
    expect(within(screen.getByRole('figure', { name: 'Errors chart' })).getByText('3 failed requests')).toBeTruthy();
  });
});

import { describe, expect, it } from 'vitest';
import { fillSeries, usageWindow } from './series';

describe('usageWindow', () => {
  it('aligns 24 h to whole UTC hours, ending after the current hour', () => {
    const w = usageWindow('24h', new Date('2026-11-23T10:17:00Z'));
    expect(w).toMatchObject({ from: '2026-11-22T11:00:00.000Z', to: '2026-11-23T11:00:00.000Z', granularity: 'HOUR' });
  });
  it('aligns 30 d to whole UTC days', () => {
    const w = usageWindow('30d', new Date('2026-11-23T10:17:00Z'));
    expect(w).toMatchObject({ from: '2026-10-25T00:00:00.000Z', to: '2026-11-24T00:00:00.000Z', granularity: 'DAY' });
  });
});

describe('fillSeries', () => {
  it('adds empty buckets around the ones the server sent', () => {
    const w = usageWindow('24h', new Date('2026-11-23T10:17:00Z'));
    const out = fillSeries([{ time: '2026-11-23T10:00:00Z', n: 5 }], w.from, w.to, w.stepMs, (time) => ({ time, n: 0 }));
    expect(out).toHaveLength(24);
    expect(out[23]).toEqual({ time: '2026-11-23T10:00:00Z', n: 5 });
    expect(out[0]).toEqual({ time: '2026-11-22T11:00:00.000Z', n: 0 });
  });
});

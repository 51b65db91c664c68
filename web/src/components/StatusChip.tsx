import { statusMeta } from '../lib/status';

/** StatusChip shows a key status as a coloured chip that also says it in words. */
export function StatusChip({ status }: { status: string }) {
  const m = statusMeta(status);
  return (
    <span className={`chip chip-${m.tone}`} title={m.description}>
      <span className="chip-dot" aria-hidden="true" />
      {m.label}
    </span>
  );
}

// CSV export of the visible key list. It is built from list rows only, which
// never carry a secret: the whole key exists client-side only inside the
// dialog that shows it once.

/** KeyCSVRow is the subset of an APIKey the export reads. */
export interface KeyCSVRow {
  id: string;
  label: string;
  maskedKey: string;
  status: string;
  createdAt: string;
  expiresAt?: string | null;
  lastUsedAt?: string | null;
  requestCount: number;
  maxRequests: number;
  cacheHits: number;
}

/** KEY_CSV_HEADER is the export's first line, in column order. */
export const KEY_CSV_HEADER = [
  'id',
  'label',
  'masked key',
  'status',
  'created',
  'expires',
  'last used',
  'requests',
  'max requests',
  'cache hits',
] as const;

/**
 * csvField quotes a value per RFC 4180 when it holds a comma, quote or line
 * break, and defuses spreadsheet formulas: a user-chosen label that starts
 * with = + - @ or a control character gets a leading apostrophe.
 */
export function csvField(value: string | number | null | undefined): string {
  let s = value === null || value === undefined ? '' : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s)) s = `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** keysToCSV renders rows as CSV text with CRLF line ends (RFC 4180). */
export function keysToCSV(rows: readonly KeyCSVRow[]): string {
  const lines = [KEY_CSV_HEADER.join(',')];
  for (const r of rows) {
    lines.push(
      [
        r.id,
        r.label,
        r.maskedKey,
        r.status,
        r.createdAt,
        r.expiresAt ?? 'never',
        r.lastUsedAt ?? 'never',
        r.requestCount,
        r.maxRequests === 0 ? 'unlimited' : r.maxRequests,
        r.cacheHits,
      ]
        .map(csvField)
        .join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

/** downloadText saves text as a file through a temporary object URL. */
export function downloadText(filename: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

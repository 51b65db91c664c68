/** ChannelForm is the channel dialog's fields as the user typed them. */
export interface ChannelForm {
  name: string;
  type: 'OPENAI' | 'AZURE' | 'ANTHROPIC';
  baseURL: string;
  apiKey: string;
  apiVersion: string;
  /** models: comma- or newline-separated client model names; empty = every model. */
  models: string;
  /** modelMap: one "from=to" a line. */
  modelMap: string;
  priority: string;
  weight: string;
  rpm: string;
  tpm: string;
  enabled: boolean;
}

export type ChannelField = keyof ChannelForm;

/** The server's bounds (internal/channels); keep them equal. */
const MAX_NAME = 100;
const MAX_MODELS = 200;
const MAX_INT = 2_147_483_647;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:@/+-]*$/;

/** splitModels turns the models text into names. */
export function splitModels(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** parseModelMap turns "from=to" lines into mappings, or says which line is wrong. */
export function parseModelMap(text: string): { from: string; to: string }[] | string {
  const out: { from: string; to: string }[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    const from = eq < 0 ? '' : line.slice(0, eq).trim();
    const to = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (!from || !to) return `Line ${i + 1}: write client-model=upstream-model, e.g. gpt-4o=my-deployment.`;
    if (seen.has(from)) return `Line ${i + 1}: ${from} is mapped twice.`;
    seen.add(from);
    out.push({ from, to });
  }
  if (out.length > MAX_MODELS) return `At most ${MAX_MODELS} mappings.`;
  return out;
}

function wholeNumber(label: string, text: string, min: number): string | null {
  const t = text.trim();
  if (t === '') return null; // the server's default
  if (!/^-?\d+$/.test(t)) return `${label} must be a whole number.`;
  const n = Number(t);
  if (n < min) return `${label} must be ${min} or more.`;
  if (n > MAX_INT) return `${label} can be at most ${MAX_INT}.`;
  return null;
}

/** validateChannel returns a message per field that is not acceptable; empty when the form can be sent. */
export function validateChannel(f: ChannelForm): Partial<Record<ChannelField, string>> {
  const e: Partial<Record<ChannelField, string>> = {};
  const name = f.name.trim();
  if (!name || name.length > MAX_NAME || !NAME.test(name)) {
    e.name = `A name of 1 to ${MAX_NAME} characters: letters, digits, spaces and . _ : @ / + -, starting with a letter or digit.`;
  }
  try {
    const u = new URL(f.baseURL.trim());
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) throw new Error();
  } catch {
    e.baseURL = 'Enter an http(s) URL such as https://api.openai.com/v1, without credentials or query.';
  }
  if (splitModels(f.models).length > MAX_MODELS) e.models = `At most ${MAX_MODELS} models.`;
  const map = parseModelMap(f.modelMap);
  if (typeof map === 'string') e.modelMap = map;
  if (f.apiVersion.trim() && !/^[A-Za-z0-9._-]{1,100}$/.test(f.apiVersion.trim())) e.apiVersion = 'Letters, digits, dots and dashes, e.g. 2024-10-21.';
  const checks: [ChannelField, string, number][] = [
    ['priority', 'Priority', -1_000_000],
    ['weight', 'Weight', 0],
    ['rpm', 'RPM', 0],
    ['tpm', 'TPM', 0],
  ];
  for (const [k, label, min] of checks) {
    const msg = wholeNumber(label, f[k] as string, min);
    if (msg) e[k] = msg;
  }
  return e;
}

/**
 * Label and field selectors as the API server parses them for list and watch.
 *
 * @see https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
 */

/** A parsed selector: true when the labels (or fields) match. */
export type Matcher = (values: Readonly<Record<string, string>>) => boolean;

/** Thrown for a selector the server cannot parse; the caller answers 400. */
export class SelectorError extends Error {}

/**
 * Parses a label selector: `key`, `!key`, `key=value`, `key==value`, `key!=value`,
 * `key in (a,b)` and `key notin (a,b)`, joined by commas (all must hold).
 * An empty or absent selector matches everything.
 */
export function parseLabelSelector(selector: string | null | undefined): Matcher {
  const parts = splitTopLevel(selector ?? '');
  const requirements = parts.map(parseRequirement);
  return (labels) => requirements.every((r) => r(labels));
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY = String.raw`[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EXISTS = new RegExp(`^(!?)\\s*(${KEY})$`);
const EQUALITY = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`);
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`);

function parseRequirement(text: string): Matcher {
  let m = EXISTS.exec(text);
  if (m) {
    const [, not, key = ''] = m;
    return not ? (l) => !(key in l) : (l) => key in l;
  }
  m = EQUALITY.exec(text);
  if (m) {
    const key = m[1] ?? '';
    const op = m[3];
    const value = m[4] ?? '';
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  m = SET.exec(text);
  if (m) {
    const key = m[1] ?? '';
    const values = new Set((m[4] ?? '').split(',').map((v) => v.trim()));
    // notin also matches objects without the key, like the real server.
    return m[3] === 'in' ? (l) => key in l && values.has(l[key] ?? '') : (l) => !(key in l) || !values.has(l[key] ?? '');
  }
  throw new SelectorError(`unable to parse requirement: ${JSON.stringify(text)}`);
}

/**
 * Parses a field selector (`field=value`, `field==value`, `field!=value`, comma-joined) over the
 * given supported field names; any other field is an error, like the real server's
 * `field label not supported`.
 */
export function parseFieldSelector(selector: string | null | undefined, supported: readonly string[]): Matcher {
  const requirements = splitTopLevel(selector ?? '').map((text): Matcher => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(text);
    if (!m) throw new SelectorError(`invalid field selector: ${JSON.stringify(text)}`);
    const field = (m[1] ?? '').trim();
    const value = (m[3] ?? '').trim();
    if (!supported.includes(field)) throw new SelectorError(`field label not supported: ${field}`);
    return m[2] === '!=' ? (f) => f[field] !== value : (f) => f[field] === value;
  });
  return (fields) => requirements.every((r) => r(fields));
}

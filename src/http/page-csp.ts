/**
 * The Content-Security-Policy of the pages this server renders (GraphiQL, `/docs`, `/`): scripts,
 * styles, workers and requests from this server only (the bundles inject their styles inline),
 * so a page offline or behind a restricted egress loads nothing from elsewhere.
 * `frame-ancestors` counts only in a header, not in a `<meta>`: {@link PAGE_CSP_HEADER} adds it.
 */
const DIRECTIVES = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
];

/** For a `<meta http-equiv="Content-Security-Policy">` (Yoga renders GraphiQL's body only). */
export const PAGE_CSP_META = DIRECTIVES.join('; ');

/** For a `Content-Security-Policy` header: the same, and no framing. */
export const PAGE_CSP_HEADER = [...DIRECTIVES, "frame-ancestors 'none'"].join('; ');

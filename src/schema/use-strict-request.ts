import { createGraphQLError, type Plugin } from 'graphql-yoga';

/** Deeper bracket nesting than this is refused before parsing (graphql-js parses recursively). */
export const MAX_DOCUMENT_NESTING = 256;

/** One decoder for every body: decoding without `stream` keeps no state from one call to the next. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

const JSON_TYPE = /^application\/(json|graphql-response\+json|graphql\+json)\s*(;|$)/i;

function badRequest(message: string, code = 'BAD_USER_INPUT'): Error {
  return createGraphQLError(message, { extensions: { code, http: { status: 400 } } });
}

/** The deepest nesting of `{`, `[` and `(` in a document, strings and comments left out. */
export function documentNesting(query: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (c === '"') {
      // Skip a string (block strings are three quotes: the loop skips their parts the same way).
      for (i++; i < query.length && query[i] !== '"'; i++) if (query[i] === '\\') i++;
    } else if (c === '#') {
      while (i < query.length && query[i] !== '\n') i++;
    } else if (c === '{' || c === '[' || c === '(') {
      deepest = Math.max(deepest, ++depth);
    } else if (c === '}' || c === ']' || c === ')') {
      depth--;
    }
  }
  return deepest;
}

/**
 * Refuses what Yoga would otherwise turn into a 500 or accept silently: a POST body that is not
 * valid UTF-8 (it would be decoded with U+FFFD replacements and run), GET `variables` or
 * `extensions` that are not JSON, and documents nested so deep that the recursive parser would
 * overflow the stack (QUERY_TOO_COMPLEX).
 */
export function useStrictRequest(): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method === 'POST' && JSON_TYPE.test(request.headers.get('content-type') ?? '')) {
        setRequestParser(async (req) => {
          let text: string;
          try {
            text = UTF8.decode(await req.arrayBuffer());
          } catch {
            throw badRequest('the request body is not valid UTF-8');
          }
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch (err) {
            throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`, 'BAD_REQUEST');
          }
          // An array is a batch, which Yoga refuses itself with a clear error; anything else must be an object.
          if (typeof body !== 'object' || body === null) throw badRequest('the request body must be a JSON object', 'BAD_REQUEST');
          return body as Record<string, unknown>;
        });
      } else if (request.method === 'GET') {
        const params = new URL(request.url).searchParams;
        for (const name of ['variables', 'extensions']) {
          const value = params.get(name);
          if (value === null) continue;
          try {
            JSON.parse(value);
          } catch {
            throw badRequest(`the ${name} parameter is not valid JSON`, 'BAD_REQUEST');
          }
        }
      }
    },
    onParams({ params }) {
      if (typeof params.query === 'string' && documentNesting(params.query) > MAX_DOCUMENT_NESTING) {
        throw createGraphQLError(`the document is nested deeper than ${MAX_DOCUMENT_NESTING} brackets`, {
          extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } },
        });
      }
    },
  };
}

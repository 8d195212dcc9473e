/**
 * The lines of a piece of output, as the REST events stream sends them (one `output` event per
 * line). Its own module: the Claude rendering and the SSE framing both need it, and the framing
 * needs the Claude rendering.
 */

/** The lines of an output chunk: split at "\n", without the newline (and a "\r" before it). */
export function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

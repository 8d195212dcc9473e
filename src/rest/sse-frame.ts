/** One Server-Sent Events frame: `id:` (when given), `event:`, `data:` (the data as JSON), and the blank line that ends it. */
export function sseFrame(event: string, data: unknown, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

import { BadUserInputError } from '../errors.js';
import type { Command } from '../runs/types.js';
import { builder } from './builder.js';
import { edgesCost, listCost } from './query-limits.js';
import { CommandConnectionRef, CommandRef } from './refs.js';

/** Opaque cursor of a command in a listing: its ordinal, base64url-encoded. */
export function encodeCursor(command: Pick<Command, 'ordinal'>): string {
  return Buffer.from(`cmd:${command.ordinal}`).toString('base64url');
}

/** The ordinal inside a cursor; a malformed one is BAD_USER_INPUT on `field`. */
export function decodeCursor(cursor: string, field = 'after'): number {
  const match = /^cmd:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new BadUserInputError(field, 'is not a cursor returned by this server');
  return Number(match[1]);
}

export interface CommandPage {
  commands: Command[];
  hasNextPage: boolean;
}

/** Commands a connection returns without `first`, and the most it may ask for. */
export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;

/** What a `commands` connection costs (RDEV_MAX_QUERY_COMPLEXITY): its items' cost times its `first`, as {@link pageArgs} reads it. */
export const connectionCost = listCost({ defaultSize: DEFAULT_PAGE, maxSize: MAX_PAGE });

/** Validates `first`/`after` and turns them into a store query's bounds. */
export function pageArgs(first: number | null | undefined, after: string | null | undefined): { limit: number; beforeOrdinal: number | undefined } {
  const limit = first ?? DEFAULT_PAGE;
  if (limit < 0 || limit > MAX_PAGE) throw new BadUserInputError('first', `must be between 0 and ${MAX_PAGE}`);
  return { limit, beforeOrdinal: after ? decodeCursor(after) : undefined };
}

/** Cuts the store's `limit + 1` rows into a page. */
export function toPage(rows: Command[], limit: number): CommandPage {
  return { commands: rows.slice(0, limit), hasNextPage: rows.length > limit };
}

const PageInfoRef = builder.objectRef<CommandPage>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.string({ nullable: true, resolve: (p) => (p.commands.length > 0 ? encodeCursor(p.commands.at(-1)!) : null) }),
  }),
});

const CommandEdgeRef = builder.objectRef<Command>('CommandEdge').implement({
  fields: (t) => ({
    cursor: t.string({ resolve: encodeCursor }),
    node: t.field({ type: CommandRef, resolve: (c) => c }),
  }),
});

CommandConnectionRef.implement({
  description: 'Commands, newest first.',
  fields: (t) => ({
    edges: t.field({ type: [CommandEdgeRef], extensions: { complexity: edgesCost }, resolve: (p) => p.commands }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (p) => p }),
  }),
});

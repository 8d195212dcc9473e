import { builder } from './builder.js';
import './scalars.js';
import './refs.js';
import './connection.js';
import './project.js';
import './command.js';
import './claude.js';
import './audit.js';
import './mutations.js';
import './subscriptions.js';

/** The whole GraphQL schema (DESIGN.md's contract, plus `projectEvents` and a few additions). */
export const schema = builder.toSchema({ sortSchema: false });

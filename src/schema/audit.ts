import type { AuditEntry } from '../audit/audit-log.js';
import { builder } from './builder.js';
import { listCost } from './query-limits.js';
import { CommandKindEnum, CommandStatusEnum } from './refs.js';

/** Entries `auditLog` returns without `first`, and the most it may ask for. */
const AUDIT_PAGE = 100;
const MAX_AUDIT_PAGE = 200;

const AuditDecisionEnum = builder.enumType('AuditDecision', { values: ['ACCEPTED', 'REFUSED'] as const });

const AuditRefusalRef = builder.objectRef<{ code: string; message: string }>('AuditRefusal').implement({
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

const AuditEntryRef = builder.objectRef<AuditEntry>('AuditEntry').implement({
  description: 'One command accepted (with how it ended) or refused, and who asked.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    at: t.expose('at', { type: 'DateTime' }),
    decision: t.field({ type: AuditDecisionEnum, resolve: (e) => e.decision }),
    caller: t.exposeString('caller', { description: 'The token name.' }),
    projectId: t.exposeString('projectId'),
    kind: t.field({ type: CommandKindEnum, resolve: (e) => e.kind }),
    argv: t.exposeStringList('argv'),
    commandId: t.exposeString('commandId', { nullable: true }),
    refusal: t.field({ type: AuditRefusalRef, nullable: true, resolve: (e) => e.refusal }),
    status: t.field({ type: CommandStatusEnum, nullable: true, resolve: (e) => e.status }),
    exitCode: t.exposeInt('exitCode', { nullable: true }),
    outputBytes: t.exposeInt('outputBytes', { nullable: true, description: 'Every byte the command wrote (both streams), kept or not.' }),
    outputSha256: t.exposeString('outputSha256', {
      nullable: true,
      description:
        "sha256 of the command's output up to RDEV_MAX_OUTPUT_BYTES on each stream. Null until it ends, when refused, and for " +
        'a command adopted by a restarted server (a digest cannot be resumed; outputBytes still counts every byte).',
    }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('auditLog', (t) =>
  t.field({
    type: [AuditEntryRef],
    authScopes: { admin: true },
    description: 'The audit log of commands, newest first (admins only). Page with `before: <seq of the last entry>`.',
    extensions: { complexity: listCost({ defaultSize: AUDIT_PAGE, maxSize: MAX_AUDIT_PAGE }) },
    args: {
      first: t.arg.int({
        required: false,
        validate: { min: [1, { message: 'must be at least 1' }], max: [MAX_AUDIT_PAGE, { message: `must be at most ${MAX_AUDIT_PAGE}` }] },
      }),
      before: t.arg.int({ required: false }),
    },
    resolve: (_, args, ctx) => ctx.audit.list({ before: args.before ?? undefined, limit: args.first ?? AUDIT_PAGE }),
  }),
);

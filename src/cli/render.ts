import { claudeLines } from '../rest/claude-lines.js';
import type { FollowEvent } from './operations.js';

/** Where rendered output goes (process.stdout/stderr, or buffers in tests). */
export interface Sinks {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Writes one command event as a person reads it: output as the command wrote it, to stdout or
 * stderr as it did; a Claude message as the REST stream's lines (the assistant's text, `[tool] …`,
 * `[result] …`); nothing for the completion (the exit code says it). With `json`, one JSON line
 * per event on stdout.
 */
export function renderEvent(event: FollowEvent, sinks: Sinks, json: boolean): void {
  if (json) {
    sinks.stdout.write(`${JSON.stringify(event)}\n`);
    return;
  }
  switch (event.__typename) {
    case 'CommandOutput':
      (event.stream === 'STDERR' ? sinks.stderr : sinks.stdout).write(event.text);
      return;
    case 'ClaudeMessage':
      for (const { stream, line } of claudeLines({
        type: 'claude',
        seq: event.seq,
        messageType: event.type,
        subtype: event.subtype,
        text: event.text,
        toolName: event.toolName,
        message: event.message,
        at: new Date(0),
      })) {
        (stream === 'stderr' ? sinks.stderr : sinks.stdout).write(`${line}\n`);
      }
      return;
    case 'CommandCompleted':
      if (event.status !== 'SUCCEEDED' && event.status !== 'FAILED' && event.error) sinks.stderr.write(`rdev: ${event.status}: ${event.error}\n`);
      else if (event.status === 'FAILED' && event.exitCode === null && event.error) sinks.stderr.write(`rdev: FAILED: ${event.error}\n`);
  }
}

/**
 * What `rdev` exits with. A command that ran passes its own exit code through (0–255); the other
 * endings have codes of their own, chosen where commands seldom exit (sysexits.h, and the codes
 * `timeout` and a shell use), so that none of them reads as success.
 */
export const EXIT = {
  /** Bad arguments (EX_USAGE). */
  USAGE: 64,
  /** The server refused the request: unknown project or command, bad input, no permission (EX_DATAERR). */
  REFUSED: 65,
  /** The server cannot be reached, or the stream was lost and could not be regained (EX_UNAVAILABLE). */
  CONNECTION_LOST: 69,
  /** The command ran past its timeout (as `timeout` exits). */
  TIMED_OUT: 124,
  /** The command is LOST: its workspace or supervisor is gone, its end is unknown. */
  LOST: 125,
  /** The command was canceled (Ctrl-C, or `rdev cancel`), as a shell exits after Ctrl-C. */
  CANCELED: 130,
} as const;

/** The exit code for a command's final status: its own exit code when it ran to the end. */
export function exitCodeOf(status: string, exitCode: number | null): number {
  switch (status) {
    case 'SUCCEEDED':
      return 0;
    case 'FAILED':
      // A Claude run can exit 0 and still fail (no result message): never let that read as success.
      return exitCode === null || exitCode === 0 ? 1 : exitCode;
    case 'CANCELED':
      return EXIT.CANCELED;
    case 'TIMED_OUT':
      return EXIT.TIMED_OUT;
    default:
      return EXIT.LOST;
  }
}

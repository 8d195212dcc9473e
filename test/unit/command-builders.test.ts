import { describe, expect, it } from 'vitest';
import { claudeArgv, gitArgv, shellArgv } from '../../src/runs/command-builders.js';

describe('argv builders', () => {
  it('runs a shell command line with sh -c', () => {
    expect(shellArgv('ls -la | wc -l')).toEqual(['sh', '-c', 'ls -la | wc -l']);
  });

  it('passes git arguments through without a shell', () => {
    expect(gitArgv(['log', '--oneline', '$(rm -rf /)'])).toEqual(['git', 'log', '--oneline', '$(rm -rf /)']);
  });

  it('builds the headless Claude command with stream-json and --verbose', () => {
    expect(claudeArgv({ prompt: 'hi', permissionMode: 'default' })).toEqual(['claude', '-p', 'hi', '--output-format', 'stream-json', '--verbose']);
  });

  it('lets Claude edit files by default, since nobody can answer a permission prompt headless', () => {
    expect(claudeArgv({ prompt: 'hi' }).slice(-2)).toEqual(['--permission-mode', 'acceptEdits']);
  });

  it('adds every Claude option, one argument per allowed tool', () => {
    expect(claudeArgv({ prompt: 'fix it', sessionId: 'abc-123', model: 'sonnet', allowedTools: ['Bash(git log:*)', 'Edit'], maxTurns: 3 })).toEqual([
      'claude',
      '-p',
      'fix it',
      '--output-format',
      'stream-json',
      '--verbose',
      '--resume',
      'abc-123',
      '--model',
      'sonnet',
      '--allowedTools',
      'Bash(git log:*)',
      'Edit',
      '--max-turns',
      '3',
      '--permission-mode',
      'acceptEdits',
    ]);
  });

  it('continues the last session', () => {
    expect(claudeArgv({ prompt: 'and then?', continueSession: true })).toContain('--continue');
  });

  it('keeps a prompt that starts with "-" from being read as an option', () => {
    expect(claudeArgv({ prompt: '--help me' })[2]).toBe(' --help me');
  });
});

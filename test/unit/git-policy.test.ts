import { describe, expect, it } from 'vitest';
import { checkGitArgs, DEFAULT_GIT_SUBCOMMANDS, isForcePush } from '../../src/runs/git-policy.js';

const allowed = new Set<string>(DEFAULT_GIT_SUBCOMMANDS);
const check =
  (...args: string[]) =>
  () =>
    checkGitArgs(args, allowed);

describe('checkGitArgs', () => {
  it.each([
    ['status'],
    ['log', '--oneline', '-n', '5'],
    ['commit', '-m', 'fix', '-c', 'HEAD'],
    ['push', '-u', 'origin', 'main'],
    ['add', '-u'],
    ['grep', '-n', 'TODO'],
    ['config', '--get', 'user.name'],
    ['config', '--list'],
    ['log', '--', '--output=not-an-option'],
    ['fetch', '--prune', 'origin'],
    ['diff', '--exclude-standard'],
  ])('allows git %s', (...args) => {
    expect(check(...args)).not.toThrow();
  });

  it.each([
    [['-c', 'core.pager=evil', 'log'], /options before the subcommand/],
    [['--config-env=core.pager=X', 'log'], /options before the subcommand/],
    [['-C', '/', 'status'], /options before the subcommand/],
    [['--git-dir=/', 'status'], /options before the subcommand/],
    [['difftool'], /not an allowed subcommand/],
    [['filter-branch'], /not an allowed subcommand/],
    [['help', '-w'], /not an allowed subcommand/],
    [['fetch', '--upload-pack=touch /tmp/x'], /--upload-pack/],
    [['fetch', '--upload-p=x'], /--upload-pack/],
    [['fetch', '-u', 'x'], /-u/],
    [['pull', '-vu', 'x'], /-u/],
    [['push', '--receive-pack=x'], /--receive-pack/],
    [['push', '--exec=x'], /--exec/],
    [['rebase', '-x', 'make'], /-x/],
    [['rebase', '-ix', 'make'], /-i/],
    [['rebase', '--exec=make'], /--exec/],
    [['rebase', '--interactive'], /--interactive/],
    [['status', '--work-tree=/'], /--work-tree/],
    [['log', '--output=/tmp/x'], /--output/],
    [['log', '--outp=/tmp/x'], /--output/],
    [['grep', '-O', 'x'], /-O/],
    [['grep', '--open-files-in-pager=vim', 'x'], /--open-files-in-pager/],
    [['submodule', 'foreach', 'rm -rf /'], /foreach/],
    [['config', 'core.pager', 'evil'], /may only read/],
    [['commit', '-ccore.editor=evil'], /sets configuration/],
    [['log', '-c', 'core.pager=evil'], /sets configuration/],
    [['add', '-p'], /-p/],
  ])('refuses git %j', (args, reason) => {
    expect(check(...args)).toThrow(reason);
    try {
      check(...args)();
    } catch (err) {
      expect((err as { extensions: unknown }).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'args' });
    }
  });
});

describe('isForcePush', () => {
  it.each([
    [['push', '--force'], true],
    [['push', '-f', 'origin', 'main'], true],
    [['push', '--force-with-lease'], true],
    [['push', '--forc'], true],
    [['push', 'origin', '+main'], true],
    [['push', 'origin', ':old-branch'], true],
    [['push', '--delete', 'origin', 'x'], true],
    [['push', '-uf', 'origin', 'main'], true],
    [['push', 'origin', 'main'], false],
    [['push', '-u', 'origin', 'main:main'], false],
    [['fetch', '--force'], false],
  ])('%j → %s', (args, expected) => {
    expect(isForcePush(args)).toBe(expected);
  });
});

describe('checkGitArgs: bypasses found by the hostile-input table', () => {
  it.each([
    [['config', 'core.fsmonitor', 'touch pwned', '--get'], /start with --get/],
    [['config', 'core.pager', 'evil', '-l'], /start with --get/],
    [['config', 'core.editor', 'evil', 'list'], /start with --get/],
    [['config', '--file=../outside.cfg', 'a.b', 'c', '--get-regexp'], /--file/],
    [['config', '--get', 'a.b', 'c', 'd'], /a name and at most a value pattern/],
    [['config', '--list', '--file=/etc/gitconfig'], /--file/],
    [['config', '--list', '--show-origin', '-e'], /no other options/],
    [['push', '--e=touch pwned', '.', 'HEAD:refs/heads/x'], /--exec/],
    [['diff', '--no-index', '/etc/passwd', 'README.md'], /--no-index/],
    [['blame', '--contents=/etc/shadow', 'README.md'], /--contents/],
    [['commit', '-F', '/etc/passwd'], /-F/],
    [['commit', '--file=/etc/passwd'], /--file/],
    [['push', '/work/other-project', 'HEAD'], /local path/],
    [['fetch', 'ext::sh -c touch% /tmp/x'], /transport helper/],
    [['pull', 'file:///etc'], /local path/],
  ])('refuses git %j', (args, reason) => {
    expect(check(...args)).toThrow(reason);
  });

  it.each([
    [['config', '--get', 'user.name']],
    [['config', '--show-origin', '--list']],
    [['config', 'get', 'user.email']],
    [['push', '.', 'HEAD:refs/heads/x']],
  ])('still allows git %j', (args) => {
    expect(check(...args)).not.toThrow();
  });
});

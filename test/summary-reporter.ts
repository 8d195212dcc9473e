import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own
 * summary, so that CI can read the counts whatever the default reporter's format.
 */
export default class SummaryReporter implements Reporter {
  private modules: ReadonlyArray<TestModule> = [];

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    this.modules = modules;
  }

  /** Called after the default reporter printed its summary, so this line comes last. */
  onFinished(): void {
    const modules = this.modules;
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (module.state() === 'failed' && module.children.size === 0) failed++; // a file that failed to load
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

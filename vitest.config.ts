import { defineConfig } from 'vitest/config';

export default defineConfig({
  // One copy of graphql for everyone: Pothos and Yoga load its CommonJS build, so the tests must too
  // (two copies make graphql refuse "GraphQLScalarType from another module or realm").
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    // Far above what any test needs here: tests wait on conditions, and a 2-core machine that is
    // busy with something else too (CI beside another job) must not turn a slow pass into a failure.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Test files of a worker share its modules (no fresh module graph per file: importing the app
    // and its libraries again for each of 100 files took about a third of the suite's time). Nothing
    // a file leaves behind may matter to the next: per-file state lives in hooks (setupFiles below).
    isolate: false,
    // Two test files at a time on this 2-core machine: many tests wait on processes and sockets.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default', './test/summary-reporter.ts'],
    // One API suite, two backends: test/api runs again against the kube backend, through the
    // Kubernetes API test server (test/support/kube-api), not as a copy.
    projects: [
      { extends: true, test: { name: 'local', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'kube',
          include: ['test/api/**/*.test.ts'],
          // The schema contract and the server process do not depend on the backend.
          exclude: ['test/api/contract.test.ts', 'test/api/server-process.test.ts'],
          env: { RDEV_TEST_BACKEND: 'kube' },
        },
      },
      {
        extends: true,
        test: {
          // The API suite again on one replica with PostgreSQL (RDEV_DATABASE_URL), a throwaway cluster per app.
          name: 'postgres',
          include: ['test/api/**/*.test.ts'],
          // Not about the store: the schema contract, the server process, and the audit log's file (PostgreSQL keeps it in a table: test/replicas).
          exclude: ['test/api/contract.test.ts', 'test/api/server-process.test.ts', 'test/api/audit.test.ts'],
          env: { RDEV_TEST_STORE: 'postgres' },
          setupFiles: ['test/api/postgres-per-file.ts'],
        },
      },
    ],
  },
});

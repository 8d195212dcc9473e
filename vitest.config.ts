import { defineConfig } from 'vitest/config';

export default defineConfig({
  // One copy of graphql for everyone: Pothos and Yoga load its CommonJS build, so the tests must too
  // (two copies make graphql refuse "GraphQLScalarType from another module or realm").
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});

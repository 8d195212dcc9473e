// A setup file of the `postgres` project (vitest.config.ts): runs before each test file, so that each
// file's PostgreSQL goes with it, although test files share the harness module (no isolation).
import { afterAll } from 'vitest';
import { removeFilePostgres } from './harness.js';

afterAll(removeFilePostgres);

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ensureDemoProject } from './demo-project.js';
import type { Project, ProjectRegistry } from './registry.js';

/** Options of the local registry. */
export interface LocalRegistryOptions {
  /** YAML (or JSON) file `projects: [{id, path}]`; relative paths are relative to the file. */
  projectsFile?: string | undefined;
  /** Where the `demo` project is created when there is no projects file. */
  dataDir: string;
}

const PROJECT_ID = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

const projectsFileSchema = z.object({
  projects: z
    .array(
      z.object({
        id: z.string().regex(PROJECT_ID, 'a lowercase name of letters, digits, ".", "_" or "-"'),
        path: z.string().min(1),
      }),
    )
    .min(1),
});

/** Reads and validates a projects file; throws an Error naming what is wrong. */
export function readProjectsFile(file: string): Array<{ id: string; path: string }> {
  const parsed = projectsFileSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.join('.') || 'projects'}: ${issue.message}`);
  }
  const ids = new Set<string>();
  for (const p of parsed.data.projects) {
    if (ids.has(p.id)) throw new Error(`projects: duplicate id ${p.id}`);
    ids.add(p.id);
  }
  const base = path.dirname(path.resolve(file));
  return parsed.data.projects.map((p) => ({ id: p.id, path: path.resolve(base, p.path) }));
}

function statusOf(dir: string): Pick<Project, 'status' | 'statusMessage'> {
  try {
    if (statSync(dir).isDirectory()) return { status: 'READY', statusMessage: null };
    return { status: 'MISSING', statusMessage: `${dir} is not a directory` };
  } catch {
    return { status: 'MISSING', statusMessage: `${dir} does not exist` };
  }
}

/** Projects that are directories on this machine: from the projects file, or the `demo` project. */
export function createLocalRegistry(options: LocalRegistryOptions): ProjectRegistry {
  let entries: Array<{ id: string; path: string }>;
  if (options.projectsFile) {
    entries = readProjectsFile(options.projectsFile);
  } else {
    const demo = path.resolve(options.dataDir, 'projects', 'demo');
    ensureDemoProject(demo);
    entries = [{ id: 'demo', path: demo }];
  }
  const toProject = (e: { id: string; path: string }): Project => ({ id: e.id, pod: null, workspace: e.path, ...statusOf(e.path) });
  return {
    list: () => entries.map(toProject),
    get(id) {
      const entry = entries.find((e) => e.id === id);
      return entry && toProject(entry);
    },
    readiness: () => ({ ready: true, reason: null }),
    onChange: () => () => {},
    close: async () => {},
  };
}

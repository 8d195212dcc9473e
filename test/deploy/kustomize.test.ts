// The Kubernetes manifests as kubectl renders them (kustomize built into kubectl): RBAC,
// hardening of every container, probes, the project StatefulSets, Secret templates and the
// example overlay. Nothing here needs a cluster.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  containersOf,
  find,
  render,
  repoRoot,
  secretsUsedBy,
  workloads,
  type Container,
  type Manifest,
  type PodSpec,
  type Rule,
  type Workload,
} from './manifests.js';

const PROJECT_LABEL = 'rdev.io/project';

let base: Manifest[];
let secrets: Manifest[];
let overlay: Manifest[];
let replicas: Manifest[];
beforeAll(async () => {
  [base, secrets, overlay, replicas] = await Promise.all([
    render('deploy/k8s/base'),
    render('deploy/k8s/secrets'),
    render('deploy/k8s/overlays/example-project'),
    render('deploy/k8s/overlays/replicas'),
  ]);
});

/** A rule set as "group/resource:verb" strings, sorted: order and grouping do not matter. */
function grants(rules: Rule[]): string[] {
  return rules.flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)))).sort();
}

/** The claudebox StatefulSets keyed by their project label. */
function projects(docs: Manifest[]): Map<string, Manifest & { spec: Workload }> {
  const sets = workloads(docs).filter((w) => w.kind === 'StatefulSet');
  return new Map(sets.map((s) => [s.spec.template.metadata.labels?.[PROJECT_LABEL] ?? `(unlabelled ${s.metadata.name})`, s]));
}

function isNonRoot(pod: PodSpec, c: Container): boolean {
  const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
  const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  return nonRoot === true && uid !== 0;
}

/** Checks one claudebox StatefulSet, as a project's kustomization renders it. */
function expectProjectWorkspace(docs: Manifest[], project: string): void {
  const set = projects(docs).get(project);
  expect(set, `StatefulSet for project ${project}`).toBeDefined();
  const { spec } = set!;
  expect(spec.template.metadata.labels?.[PROJECT_LABEL]).toBe(project);
  expect(spec.selector.matchLabels[PROJECT_LABEL]).toBe(project);
  const pod = spec.template.spec;
  const box = pod.containers.find((c) => c.name === 'claudebox');
  expect(box, 'a container named claudebox').toBeDefined();
  expect(box!.ports ?? []).toEqual([]);
  expect(box!.env?.find((e) => e.name === 'ANTHROPIC_API_KEY')?.valueFrom?.secretKeyRef).toEqual({
    name: 'claudebox-anthropic',
    key: 'ANTHROPIC_API_KEY',
  });
  const mounts = new Map((box!.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
  expect(spec.volumeClaimTemplates?.map((t) => t.metadata.name)).toContain(mounts.get('/workspace'));

  // The init container clones with the project's own deploy key and the shared known_hosts.
  const init = pod.initContainers?.[0];
  expect(init, 'an init container').toBeDefined();
  const initMounts = new Set((init!.volumeMounts ?? []).map((m) => m.name));
  const volume = (name: string) => pod.volumes?.find((v) => v.name === name);
  expect(initMounts.has(mounts.get('/workspace')!)).toBe(true);
  expect(volume('deploy-key')?.secret?.secretName).toBe(`claudebox-deploy-key-${project}`);
  expect(initMounts.has('deploy-key') && initMounts.has('known-hosts')).toBe(true);
  const knownHosts = find(docs, 'ConfigMap', volume('known-hosts')!.configMap!.name);
  expect(knownHosts.data?.known_hosts).toMatch(/^github\.com ssh-ed25519 /m);
  const repoUrl = init!.env?.find((e) => e.name === 'REPO_URL')?.valueFrom?.configMapKeyRef;
  const projectMap = find(docs, 'ConfigMap', repoUrl!.name);
  expect(projectMap.data?.[repoUrl!.key]).toMatch(/^git@[\w.-]+:[\w.-]+\/[\w.-]+\.git$/);

  // The project's CLAUDE.md, mounted where Claude Code reads managed memory.
  const claudeMd = volume(mounts.get('/etc/claude-code')!)?.configMap;
  expect(claudeMd?.items).toEqual([{ key: 'CLAUDE.md', path: 'CLAUDE.md' }]);
  expect(find(docs, 'ConfigMap', claudeMd!.name).data?.['CLAUDE.md']).toContain(`# ${project}`);
}

describe('deploy/k8s/base', () => {
  it('grants rdev-api exactly pods get/list/watch, pods/exec create and pods/log get', () => {
    const roles = base.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole');
    expect(roles.map((r) => `${r.kind}/${r.metadata.name}`)).toEqual(['Role/rdev-api']);
    const rules = roles[0]!.rules!;
    expect(grants(rules)).toEqual(['/pods/exec:create', '/pods/log:get', '/pods:get', '/pods:list', '/pods:watch']);
    expect(rules.every((r) => r.resourceNames === undefined && r.nonResourceURLs === undefined)).toBe(true);
    expect(base.some((d) => d.kind === 'ClusterRoleBinding')).toBe(false);
  });

  it('binds that Role to the rdev-api ServiceAccount the Deployment runs as', () => {
    const binding = find(base, 'RoleBinding', 'rdev-api');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: 'rdev-api' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rdev-api', namespace: 'rdev' }]);
    find(base, 'ServiceAccount', 'rdev-api');
    const deployment = find(base, 'Deployment', 'rdev-api').spec as Workload;
    expect(deployment.template.spec.serviceAccountName).toBe('rdev-api');
  });

  it('gives every container requests, limits and a non-root, hardened security context', () => {
    const all = workloads(base).flatMap((w) => containersOf(w.spec.template.spec).map((c) => ({ w, c })));
    expect(all.length).toBeGreaterThanOrEqual(5); // rdev-api, and init + claudebox per project
    for (const { w, c } of all) {
      const where = `${w.kind}/${w.metadata.name} container ${c.name}`;
      for (const kind of ['requests', 'limits'] as const) {
        expect(Object.keys(c.resources?.[kind] ?? {}).sort(), `${where} ${kind}`).toEqual(['cpu', 'memory']);
      }
      expect(isNonRoot(w.spec.template.spec, c), `${where} runs as non-root`).toBe(true);
      expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
      expect(c.securityContext?.capabilities, where).toEqual({ drop: ['ALL'] });
    }
  });

  it('probes every container that has a port', () => {
    const serving = workloads(base)
      .flatMap((w) => containersOf(w.spec.template.spec))
      .filter((c) => (c.ports ?? []).length > 0);
    expect(serving.map((c) => c.name)).toEqual(['rdev-api']);
    for (const c of serving) {
      expect(c.livenessProbe, c.name).toBeDefined();
      expect(c.readinessProbe, c.name).toBeDefined();
    }
  });

  it('runs rdev-api hardened: probes on /health and /ready, data on a PVC, /tmp, tokens from a Secret', () => {
    const spec = find(base, 'Deployment', 'rdev-api').spec as Workload;
    expect(spec.replicas).toBe(1);
    const pod = spec.template.spec;
    const [api] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    const portOf = (p: number | string | undefined) => (typeof p === 'string' ? api!.ports?.find((x) => x.name === p)?.containerPort : p);
    expect(api!.livenessProbe?.httpGet?.path).toBe('/health');
    expect(api!.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(portOf(api!.livenessProbe?.httpGet?.port)).toBe(8080);
    expect(portOf(api!.readinessProbe?.httpGet?.port)).toBe(8080);
    expect(api!.securityContext?.readOnlyRootFilesystem).toBe(true);

    const env = Object.fromEntries((api!.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ HOST: '0.0.0.0', PORT: '8080', RDEV_BACKEND: 'kube', RDEV_CONTAINER: 'claudebox' });
    expect(env.RDEV_INSECURE).toBeUndefined();
    const volumeAt = (path: string) => pod.volumes?.find((v) => v.name === api!.volumeMounts?.find((m) => m.mountPath === path)?.name);
    expect(volumeAt(env.RDEV_DATA_DIR!)?.persistentVolumeClaim?.claimName).toBe('rdev-api-data');
    find(base, 'PersistentVolumeClaim', 'rdev-api-data');
    expect(volumeAt('/tmp')?.emptyDir).toBeDefined();
    expect(volumeAt(dirname(env.RDEV_TOKENS_FILE!))?.secret?.secretName).toBe('rdev-api-tokens');

    const service = find(base, 'Service', 'rdev-api').spec as { ports: Array<{ port: number; targetPort: string | number }> };
    expect(service.ports.map((p) => [p.port, portOf(p.targetPort)])).toEqual([[8080, 8080]]);
  });

  it('has one claudebox StatefulSet per project, found by the rdev.io/project label', () => {
    expect([...projects(base).keys()].sort()).toEqual(['aeries', 'pantheon']);
    for (const project of ['pantheon', 'aeries']) expectProjectWorkspace(base, project);
    // No other pod carries the label the registry selects.
    const labelled = workloads(base).filter((w) => w.spec.template.metadata.labels?.[PROJECT_LABEL] !== undefined);
    expect(labelled.every((w) => w.kind === 'StatefulSet')).toBe(true);
  });

  it('puts everything in namespace rdev', () => {
    expect(find(base, 'Namespace', 'rdev').metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const doc of [...base, ...secrets, ...overlay].filter((d) => d.kind !== 'Namespace')) {
      expect(doc.metadata.namespace, `${doc.kind}/${doc.metadata.name}`).toBe('rdev');
    }
  });
});

describe('Secrets', () => {
  it('are not in the base, so applying it never overwrites a real key', () => {
    expect(base.filter((d) => d.kind === 'Secret')).toEqual([]);
  });

  it('have a template for every Secret the workloads use (the base, or the replicas overlay), and no other', () => {
    const used = [...workloads(base), ...workloads(replicas)].flatMap((w) => secretsUsedBy(w.spec.template.spec));
    const templates = secrets.map((s) => s.metadata.name);
    expect(new Set(used)).toEqual(new Set(templates));
  });

  it('templates hold placeholders only', () => {
    expect(secrets.every((s) => s.kind === 'Secret' && s.data === undefined)).toBe(true);
    for (const s of secrets) {
      for (const [key, value] of Object.entries(s.stringData ?? {})) {
        expect(value, `${s.metadata.name}.${key}`).toContain('REPLACE_ME');
      }
    }
  });

  it('no file under deploy/ holds a private key or an API key', () => {
    const files = (readdirSync(join(repoRoot, 'deploy'), { recursive: true }) as string[]).map((f) => join(repoRoot, 'deploy', f));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files.filter((f) => statSync(f).isFile())) {
      const text = readFileSync(file, 'utf8');
      expect(text, relative(repoRoot, file)).not.toMatch(/-----BEGIN|sk-ant-[A-Za-z0-9]/);
    }
  });
});

describe('deploy/k8s/overlays/example-project', () => {
  it('renders the base plus one project workspace', () => {
    const before = [...projects(base).keys()].sort();
    const after = [...projects(overlay).keys()].sort();
    expect(after).toEqual([...before, 'example'].sort());
    expectProjectWorkspace(overlay, 'example');
    expect(overlay.length).toBe(base.length + 4); // StatefulSet, Service, two ConfigMaps
  });
});

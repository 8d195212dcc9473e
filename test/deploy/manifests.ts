// Renders deploy/k8s kustomizations with the machine's kubectl and gives typed access to
// the parts the deploy tests look at. Only the fields read here are typed.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

/** The repository's root directory. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface Probe {
  httpGet?: { path?: string; port?: number | string };
}
export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
export interface Container {
  name: string;
  image?: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
export interface Volume {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: Record<string, unknown>;
}
export interface PodSpec {
  serviceAccountName?: string;
  securityContext?: SecurityContext;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}
export interface Workload {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels?: Record<string, string> }; spec: PodSpec };
  volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
}
export interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: unknown;
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const run = promisify(execFile);

/** `kubectl kustomize <dir>` (dir relative to the repository), parsed into documents. */
export async function render(dir: string): Promise<Manifest[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { cwd: repoRoot, maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS() as Manifest;
  });
}

/** Deployments and StatefulSets with their specs typed. */
export function workloads(docs: Manifest[]): Array<Manifest & { spec: Workload }> {
  return docs.filter((d): d is Manifest & { spec: Workload } => d.kind === 'Deployment' || d.kind === 'StatefulSet');
}

/** Every container of a pod spec, init containers first. */
export function containersOf(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** One document by kind and name; throws when it is missing. */
export function find(docs: Manifest[], kind: string, name: string): Manifest {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (!doc) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return doc;
}

/** The names of the Secrets a pod spec uses (volumes and env). */
export function secretsUsedBy(pod: PodSpec): string[] {
  const names = (pod.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
  for (const c of containersOf(pod)) {
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) names.push(e.valueFrom.secretKeyRef.name);
  }
  return [...new Set(names)];
}

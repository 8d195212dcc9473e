// deploy/k8s/overlays/replicas as kubectl renders it: three rdev-api replicas on PostgreSQL,
// kept available through drains and rollouts and spread over nodes, while the base stays one
// replica on SQLite. Nothing here needs a cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { find, render, repoRoot, workloads, type Container, type EnvVar, type Manifest, type Workload } from './manifests.js';

/** The fields of a Deployment and its pods this file reads beyond manifests.ts's types. */
interface DeploymentSpec extends Workload {
  strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
  template: Workload['template'] & {
    spec: Workload['template']['spec'] & {
      topologySpreadConstraints?: Array<{
        maxSkew: number;
        topologyKey: string;
        whenUnsatisfiable: string;
        labelSelector?: { matchLabels?: Record<string, string> };
      }>;
    };
  };
}
type Env = EnvVar & { valueFrom?: { fieldRef?: { fieldPath: string } } };
interface PdbSpec {
  minAvailable?: number | string;
  maxUnavailable?: number | string;
  selector: { matchLabels: Record<string, string> };
}
interface PvcSpec {
  accessModes: string[];
}

let base: Manifest[];
let replicas: Manifest[];
let secrets: Manifest[];
beforeAll(async () => {
  [base, replicas, secrets] = await Promise.all([render('deploy/k8s/base'), render('deploy/k8s/overlays/replicas'), render('deploy/k8s/secrets')]);
});

const api = (docs: Manifest[]) => find(docs, 'Deployment', 'rdev-api').spec as DeploymentSpec;
const container = (spec: DeploymentSpec): Container => spec.template.spec.containers.find((c) => c.name === 'rdev-api')!;
const envOf = (spec: DeploymentSpec, name: string): Env | undefined => container(spec).env?.find((e) => e.name === name);
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/k8s/overlays/replicas', () => {
  it('runs three rdev-api replicas, rolling one extra pod in before an old one goes', () => {
    const spec = api(replicas);
    expect(spec.replicas).toBe(3);
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  });

  it('has a PodDisruptionBudget over exactly the rdev-api pods that lets one go at a time', () => {
    const pdbs = replicas.filter((d) => d.kind === 'PodDisruptionBudget');
    expect(pdbs.map((p) => p.metadata.name)).toEqual(['rdev-api']);
    const pdb = pdbs[0]!.spec as PdbSpec;
    const spec = api(replicas);
    const disruptable = pdb.maxUnavailable ?? spec.replicas! - Number(pdb.minAvailable);
    expect(disruptable).toBe(1);
    const selected = workloads(replicas).filter((w) => selects(pdb.selector.matchLabels, w.spec.template.metadata.labels));
    expect(selected.map((w) => `${w.kind}/${w.metadata.name}`)).toEqual(['Deployment/rdev-api']);
  });

  it('spreads the replicas over nodes (hard) and zones (soft)', () => {
    const spec = api(replicas);
    const constraints = spec.template.spec.topologySpreadConstraints ?? [];
    const by = new Map(constraints.map((c) => [c.topologyKey, c]));
    expect(by.get('kubernetes.io/hostname')).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' });
    expect(by.get('topology.kubernetes.io/zone')).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway' });
    for (const c of constraints) {
      expect(selects(c.labelSelector!.matchLabels!, spec.template.metadata.labels), c.topologyKey).toBe(true);
    }
  });

  it('gives each replica the database URL from the Secret, its pod name as replica id, and a 15 s lease', () => {
    const spec = api(replicas);
    expect(envOf(spec, 'RDEV_DATABASE_URL')?.valueFrom).toEqual({ secretKeyRef: { name: 'rdev-api-database', key: 'url' } });
    expect(envOf(spec, 'RDEV_REPLICA_ID')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(envOf(spec, 'RDEV_LEASE_SECONDS')?.value).toBe('15');
    // The Secret has a template (placeholders) with that key.
    expect(Object.keys(find(secrets, 'Secret', 'rdev-api-database').stringData ?? {})).toEqual(['url']);
  });

  it('mounts no ReadWriteOnce claim into the three pods: the data dir is an emptyDir', () => {
    const spec = api(replicas);
    const pod = spec.template.spec;
    for (const v of pod.volumes ?? []) {
      if (!v.persistentVolumeClaim) continue;
      const pvc = find(replicas, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName).spec as PvcSpec;
      expect(pvc.accessModes, v.name).not.toContain('ReadWriteOnce');
      expect(pvc.accessModes, v.name).not.toContain('ReadWriteOncePod');
    }
    const dataDir = envOf(spec, 'RDEV_DATA_DIR')!.value!;
    const mount = container(spec).volumeMounts?.find((m) => m.mountPath === dataDir);
    expect(pod.volumes?.find((v) => v.name === mount?.name)).toMatchObject({ emptyDir: { sizeLimit: '1Gi' } });
    expect(pod.volumes?.find((v) => v.name === mount?.name)?.persistentVolumeClaim).toBeUndefined();
    expect(replicas.some((d) => d.kind === 'PersistentVolumeClaim')).toBe(false);
  });

  it('changes nothing else of the base, and puts everything in namespace rdev', () => {
    const key = (d: Manifest) => `${d.kind}/${d.metadata.name}`;
    const changed = new Set(['Deployment/rdev-api', 'PersistentVolumeClaim/rdev-api-data', 'PodDisruptionBudget/rdev-api']);
    const rest = (docs: Manifest[]) => docs.filter((d) => !changed.has(key(d))).sort((a, b) => key(a).localeCompare(key(b)));
    expect(rest(replicas)).toEqual(rest(base));
    for (const doc of replicas.filter((d) => d.kind !== 'Namespace')) expect(doc.metadata.namespace, key(doc)).toBe('rdev');
  });

  it('leaves the CloudNativePG Cluster out of the render, as a three-instance example beside it', () => {
    expect(replicas.some((d) => d.apiVersion.startsWith('postgresql.cnpg.io/'))).toBe(false);
    const cluster = parse(readFileSync(join(repoRoot, 'deploy/k8s/overlays/replicas/postgres-cnpg.yaml'), 'utf8'));
    expect(cluster).toMatchObject({
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: { namespace: 'rdev' },
      spec: { instances: 3, bootstrap: { initdb: { database: 'rdev', owner: 'rdev' } } },
    });
    const readme = readFileSync(join(repoRoot, 'deploy/README.md'), 'utf8');
    // Booleans: a failed toContain would print the whole README.
    expect(readme.includes('postgres-cnpg.yaml'), 'deploy/README.md names postgres-cnpg.yaml').toBe(true);
    expect(readme.includes(`${cluster.metadata.name}-app`), "deploy/README.md uses the operator's <cluster>-app Secret").toBe(true);
  });
});

describe('deploy/k8s/base, beside the overlay', () => {
  it('stays one replica on SQLite: Recreate, a ReadWriteOnce data volume, no database URL', () => {
    const spec = api(base);
    expect(spec.replicas).toBe(1);
    expect(spec.strategy).toEqual({ type: 'Recreate' });
    expect(envOf(spec, 'RDEV_DATABASE_URL')).toBeUndefined();
    expect(envOf(spec, 'RDEV_REPLICA_ID')).toBeUndefined();
    expect((find(base, 'PersistentVolumeClaim', 'rdev-api-data').spec as PvcSpec).accessModes).toEqual(['ReadWriteOnce']);
    expect(base.some((d) => d.kind === 'PodDisruptionBudget')).toBe(false);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const root = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

describe('deployment manifests', () => {
  it('compose: two replicas with distinct instance ids and volumes, read-only, on PostgreSQL, clawshield mode', () => {
    const compose = parse(read('deploy/docker-compose.yml'), { merge: true }) as {
      services: Record<
        string,
        { environment: Record<string, string>; volumes: string[]; read_only?: boolean; ports?: string[] }
      >;
    };
    const api = ['api-1', 'api-2'].map((name) => compose.services[name]);
    expect(new Set(api.map((service) => service?.environment.OPENEXEC_INSTANCE_ID)).size).toBe(2);
    expect(new Set(api.map((service) => service?.volumes[0])).size).toBe(2);
    for (const service of api) {
      expect(service?.read_only).toBe(true);
      expect(service?.environment.OPENEXEC_MODE).toBe('clawshield');
      expect(service?.environment.OPENEXEC_DB_URL).toMatch(/^postgresql:\/\//);
      for (const port of service?.ports ?? []) expect(port.startsWith('127.0.0.1:')).toBe(true);
    }
  });

  it('kubernetes: probes on /ready and /health, non-root, read-only root, per-pod instance id, secrets mounted read-only', () => {
    const docs = parseAllDocuments(read('deploy/kubernetes.yaml')).map((doc) => doc.toJS());
    const deployment = docs.find((doc) => doc.kind === 'Deployment');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.readinessProbe.httpGet.path).toBe('/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/health');
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(env.OPENEXEC_INSTANCE_ID).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.OPENEXEC_MODE).toBe('clawshield');
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(env.OPENEXEC_SHUTDOWN_GRACE_MS));
    expect(container.volumeMounts.find((m: { name: string }) => m.name === 'secrets').readOnly).toBe(true);
    expect(docs.find((doc) => doc.kind === 'Secret').stringData['approvers.jwks.json']).not.toContain('"d"');
  });

  it('Dockerfile: non-root, tini, HEALTHCHECK on /ready, /data volume, clawshield by default', () => {
    const dockerfile = read('apps/openexec-api/Dockerfile');
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*\/ready/);
    expect(dockerfile).toContain('VOLUME ["/data"]');
    expect(dockerfile).toContain('OPENEXEC_MODE=clawshield');
  });
});

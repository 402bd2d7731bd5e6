/** Test and benchmark fixtures for policies. */

/** A 20-container pod: distinct images (by digest), argv, env (literal and run-time), users and volumes. */
export function twentyContainerPod(): Record<string, unknown> {
  const containers = Array.from({ length: 20 }, (_, i) => ({
    name: `c${i}`,
    image: `registry.example/team/app-${i}@sha256:${i.toString(16).padStart(2, '0').repeat(32)}`,
    command: ['/app', `--id=${i}`],
    args: ['--serve', `--port=${8000 + i}`],
    env: [{ name: 'MODE', value: 'prod' }, { name: 'INDEX', value: String(i) }, { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
    securityContext: { runAsUser: 1000 + i, runAsGroup: 1000 },
    volumeMounts: [{ name: 'cache', mountPath: `/cache/${i}` }, { name: 'cfg', mountPath: '/etc/app' }],
  }));
  return { kind: 'Pod', metadata: { name: 'twenty' }, spec: { containers, volumes: [{ name: 'cache', emptyDir: {} }, { name: 'cfg', configMap: { name: 'cfg' } }] } };
}

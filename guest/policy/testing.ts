import { create } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';

/** Test fixtures: the mounts containerd's CRI puts in an ordinary container's spec (the shim drops its host binds). */
export const CRI_DEFAULT_MOUNTS = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
];

/** A host-copied file's path as the shim names it (the shared folder, the sandbox's hex id and a suffix). */
export const SHARED_COPY = `/run/kata-containers/shared/containers/${'a'.repeat(64)}-0123456789abcdef`;

/** The CreateContainer request the shim sends for container i of shared/agent-policy/testing.ts' twentyContainerPod (allowed by its generated policy). */
export function twentyPodRequest(i: number): CreateContainerRequest {
  return create(CreateContainerRequestSchema, {
    containerId: `c${i}-${'f'.repeat(56)}`, execId: `c${i}`,
    storages: [{ driver: 'image_guest_pull', source: `registry.example/team/app-${i}@sha256:${i.toString(16).padStart(2, '0').repeat(32)}` }],
    OCI: {
      Process: {
        Args: ['/app', `--id=${i}`, '--serve', `--port=${8000 + i}`],
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=twenty', 'MODE=prod', `INDEX=${i}`, 'POD_IP=10.244.0.7',
          'KUBERNETES_SERVICE_HOST=10.96.0.1', 'KUBERNETES_SERVICE_PORT=443', 'KUBERNETES_PORT=tcp://10.96.0.1:443', 'KUBERNETES_PORT_443_TCP_PROTO=tcp'],
        Cwd: '/', User: { UID: 1000 + i, GID: 1000 },
        Capabilities: { Bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], Effective: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], Permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'] },
      },
      Mounts: [
        ...CRI_DEFAULT_MOUNTS,
        ...['/etc/hosts', '/dev/termination-log', '/etc/hostname', '/etc/resolv.conf'].map((d) => ({ destination: d, type: 'bind', source: `${SHARED_COPY}-${d.split('/').pop()}`, options: ['rbind', 'rprivate', 'rw'] })),
        { destination: '/var/run/secrets/kubernetes.io/serviceaccount', type: 'bind', source: `${SHARED_COPY}-sa`, options: ['rbind', 'rprivate', 'ro'] },
        { destination: `/cache/${i}`, type: 'bind', source: `${SHARED_COPY}-cache`, options: ['rbind', 'rprivate', 'rw'] },
        { destination: '/etc/app', type: 'bind', source: `${SHARED_COPY}-cfg`, options: ['rbind', 'rprivate', 'ro'] },
      ],
      Annotations: { 'io.kubernetes.cri.container-name': `c${i}`, 'io.kubernetes.cri.sandbox-name': 'twenty', 'io.kubernetes.cri.image-name': `registry.example/team/app-${i}` },
      Linux: { Namespaces: [{ Type: 'pid' }, { Type: 'ipc' }, { Type: 'uts' }, { Type: 'mount' }, { Type: 'network' }], MaskedPaths: ['/proc/kcore'], ReadonlyPaths: ['/proc/sys'] },
    },
  } as never);
}


/**
 * The images the CRI validation suite (cri-tools' critest) pulls, rebuilt from Debian's
 * busybox-static and served from a loopback registry, since this machine reaches no public one.
 *
 *   const set = await pushCritestImages(registry, workDir);   // every image, pushed
 *   set.mirrors   → { 'registry.k8s.io': '127.0.0.1:PORT', 'gcr.io': '127.0.0.1:PORT' }
 *
 * Each upstream name `<host>/<path>:<tag>` is pushed as `127.0.0.1:PORT/<path>:<tag>`, so a
 * registry mirror for `<host>` (containerd's CRI `registry.mirrors`, the guest agent's
 * `registryMirrors`) resolves it unchanged. Two layers: a shared base (busybox and its applets,
 * `pgrep` and `ipcs` which Debian's busybox-static lacks, the users and groups the suite's USER
 * images name) and a small top layer per image (a marker file, a web server script).
 *
 * Stand-ins: the web server images (nginx, httpd, hostnet-nginx) run busybox httpd from a script
 * named after the server, which writes `/var/run/nginx.pid` as nginx does, so `pidof nginx` in a
 * HostPID container finds it. Not reproducible here: the image pinned by upstream digest.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { busyboxRootfs, pushLayout, tarDirectory, writeOciLayout, type LayoutImageConfig } from '../../host/images/registry.js';

const E2E = 'registry.k8s.io/e2e-test-images';
const CRI_TOOLS = 'gcr.io/k8s-staging-cri-tools';

/** The default test container image (critest's `DefaultTestContainerImage`). */
export const CRITEST_BUSYBOX = `${E2E}/busybox:1.29-2`;

// `pgrep PATTERN`: the pids whose command name matches (an extended regular expression).
const PGREP = `#!/bin/sh
[ $# -eq 1 ] || { echo "usage: pgrep PATTERN" >&2; exit 2; }
rc=1
for d in /proc/[0-9]*; do
  comm=$(cat "$d/comm" 2>/dev/null) || continue
  pid=\${d#/proc/}
  [ "$pid" = "$$" ] && continue
  if echo "$comm" | grep -Eq -- "$1"; then echo "$pid"; rc=0; fi
done
exit $rc
`;
// `ipcs [-m]`: the shared memory segments of this IPC namespace, as the kernel lists them.
const IPCS = `#!/bin/sh
echo "------ Shared Memory Segments --------"
cat /proc/sysvipc/shm
`;
const webServer = (name: string, port: number, pidFile: string): string => `#!/bin/sh
# ${name} stand-in: busybox httpd on port ${port}; this script's pid is the server's pid.
mkdir -p "$(dirname ${pidFile})"
echo $$ > ${pidFile}
echo "${name}: serving /usr/share/nginx/html on port ${port}"
httpd -f -p ${port} -h /usr/share/nginx/html &
trap 'kill $!; exit 0' TERM INT
wait
`;

interface ImageSpec {
  /** The upstream reference critest names. */
  ref: string;
  files?: Record<string, { content: string; mode?: number }>;
  config?: LayoutImageConfig;
}

const marker = (name: string): ImageSpec['files'] => ({ [`/${name}`]: { content: '' } });
const server = (name: string, port: number): Pick<ImageSpec, 'files' | 'config'> => ({
  files: { [`/usr/sbin/${name}`]: { content: webServer(name, port, '/var/run/nginx.pid'), mode: 0o755 } },
  // nginx's master process title, which the ContainerPID spec looks for in /proc/1/cmdline
  config: { Entrypoint: [`/usr/sbin/${name}`, `${name}: master process`], Cmd: null },
});

/** Every image of critest v1.34 (Linux) that can be built here. */
export const CRITEST_IMAGES: ImageSpec[] = [
  { ref: CRITEST_BUSYBOX },
  { ref: `${E2E}/nginx:1.14-2`, ...server('nginx', 80) },
  { ref: `${E2E}/httpd:2.4.39-4`, ...server('httpd', 80) },
  { ref: `${CRI_TOOLS}/hostnet-nginx-amd64:latest`, ...server('nginx', 12003) },
  ...['test-image-1', 'test-image-2', 'test-image-3', 'test-image-latest'].map((n) => ({ ref: `${CRI_TOOLS}/${n}:latest`, files: marker(n) })),
  ...['test', 'all'].map((t) => ({ ref: `${CRI_TOOLS}/test-image-tag:${t}`, files: marker(t) })),
  ...['1', '2', '3'].map((t) => ({ ref: `${CRI_TOOLS}/test-image-tags:${t}`, files: marker('same-image') })),
  ...Object.entries({ 'user-uid': '1002', 'user-username': 'www-data', 'user-uid-group': '1003:1004', 'user-username-group': 'www-data:1004', 'predefined-group': '1000' })
    .map(([n, user]) => ({ ref: `${CRI_TOOLS}/test-image-${n}:latest`, config: { User: user } })),
];

/** Splits `host/path:tag` (tag defaults to latest). */
export function splitRef(ref: string): { host: string; path: string; tag: string } {
  const slash = ref.indexOf('/');
  const rest = ref.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  return colon > 0 ? { host: ref.slice(0, slash), path: rest.slice(0, colon), tag: rest.slice(colon + 1) } : { host: ref.slice(0, slash), path: rest, tag: 'latest' };
}

function writeFiles(root: string, files: NonNullable<ImageSpec['files']>): void {
  for (const [path, f] of Object.entries(files)) {
    const p = join(root, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
    chmodSync(p, f.mode ?? 0o644);
  }
}

/** The shared base layer's root filesystem. */
function baseRootfs(dir: string): string {
  const root = busyboxRootfs(dir);
  writeFiles(root, {
    '/bin/pgrep': { content: PGREP, mode: 0o755 },
    '/bin/ipcs': { content: IPCS, mode: 0o755 },
    '/etc/passwd': { content: 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\ndefault-user:x:1000:1000::/home/default-user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    '/etc/group': { content: 'root:x:0:\nwww-data:x:33:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\nnobody:x:65534:\n' },
    '/usr/share/nginx/html/index.html': { content: '<html><body><h1>Welcome to nginx!</h1></body></html>\n' },
  });
  mkdirSync(join(root, 'var/run'), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  return root;
}

export interface PushedImages {
  /** Upstream registry host → the loopback registry (`127.0.0.1:PORT`) that serves its images. */
  mirrors: Record<string, string>;
  refs: string[];
}

/** Builds every image of CRITEST_IMAGES and pushes it to `registryHost` (`127.0.0.1:PORT`). */
export function pushCritestImages(registryHost: string, workDir: string): PushedImages {
  const base = tarDirectory(baseRootfs(join(workDir, 'base')));
  const mirrors: Record<string, string> = {};
  CRITEST_IMAGES.forEach((img, i) => {
    const { host, path, tag } = splitRef(img.ref);
    mirrors[host] = registryHost;
    const top = join(workDir, `top-${i}`);
    mkdirSync(top, { recursive: true });
    writeFiles(top, img.files ?? {});
    const layout = writeOciLayout(join(workDir, `oci-${i}`), { layers: [base, tarDirectory(top)], config: { Cmd: ['sh'], ...img.config }, tag });
    pushLayout(layout, tag, `${registryHost}/${path}:${tag}`);
  });
  return { mirrors, refs: CRITEST_IMAGES.map((i) => i.ref) };
}

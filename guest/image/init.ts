/**
 * The guest's /init (busybox sh). Kernel command-line words of the form `k=v` without a dot are
 * handed to init as environment variables; the image uses `cocolet_mode` (`agent`, the default,
 * `hello`: start Node, print one line, power off — the boot benchmark's baseline; or `profile`:
 * the agent under `node --cpu-prof`, stopped `cocolet_profile_s` seconds (default 3) after it is
 * ready, its log and then its gzipped, base64 profile written on the console between the
 * PROFILE markers — a measurement aid, see bench/guest/profile.ts). All modes
 * start the same node with the same flags: NODE_START_FLAGS plus `cocolet_node_flags`
 * (comma-separated, for measurements; the command line is part of the launch measurement).
 */

import { IMAGE_FILES } from './paths.js';

/** Node flags of both modes (chosen by boot-time measurements under TCG, see bench/guest and guest/README.md). */
export const NODE_START_FLAGS: readonly string[] = [
  // Under TCG, TurboFan's compiles (a second thread on the VM's one vCPU, and new host code for
  // QEMU to translate) and Sparkplug's batches cost more at start than they save: tier up to
  // TurboFan only after ~15x the default work per function, and skip Sparkplug.
  '--interrupt-budget=1000000',
  '--no-sparkplug',
];

/** Marker lines written on the serial console (host side waits on them). */
export const CONSOLE_MARKERS = {
  init: 'COCOLET_INIT',
  hello: 'COCOLET_NODE_HELLO',
  agentExit: 'COCOLET_AGENT_EXIT',
  profileBegin: 'COCOLET_PROFILE_BEGIN',
  profileEnd: 'COCOLET_PROFILE_END',
} as const;

/**
 * Guest IPv4 setup on QEMU user networking (slirp): static, no DHCP needed. The NIC is found by
 * its MAC (QEMU's default, set explicitly by host/vmm/qemu.ts) and named `user0`, since a pod NIC
 * may probe first; its default route has a high metric, so the pod network's default route (set
 * by the shim through UpdateRoutes) wins and the user network keeps 10.0.2.0/24 (the host's
 * loopback as 10.0.2.2: a development registry or key broker) and a fallback default.
 */
export const GUEST_NET = { address: '10.0.2.15/24', gateway: '10.0.2.2', mac: '52:54:00:12:34:56', device: 'user0', metric: 1000 } as const;

export function initScript(moduleOrder: readonly string[], nodeFlags: readonly string[] = NODE_START_FLAGS): string {
  return `#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin UV_THREADPOOL_SIZE=8
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "${CONSOLE_MARKERS.init} $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
mkdir -p /dev/pts /dev/shm /run /tmp /sys/fs/cgroup /sys/kernel/security
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=0755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
for m in ${moduleOrder.join(' ')}; do insmod /lib/modules/$m.ko 2>/dev/null; done
# configfs-tsm (the TEE report interface) lives under configfs
mount -t configfs configfs /sys/kernel/config 2>/dev/null
ip link set lo up
for n in /sys/class/net/*; do
  [ "$(cat $n/address)" = "${GUEST_NET.mac}" ] && ip link set dev \${n##*/} name ${GUEST_NET.device}
done
if [ -e /sys/class/net/${GUEST_NET.device} ]; then
  ip addr add ${GUEST_NET.address} dev ${GUEST_NET.device}
  ip link set ${GUEST_NET.device} up
  ip route add default via ${GUEST_NET.gateway} dev ${GUEST_NET.device} metric ${GUEST_NET.metric}
fi
NODE_FLAGS="${nodeFlags.join(' ')} $(echo "$cocolet_node_flags" | tr , ' ')"
case "$cocolet_mode" in
  hello) /bin/node $NODE_FLAGS -e 'console.log("${CONSOLE_MARKERS.hello}", require("fs").readFileSync("/proc/uptime","utf8").split(" ")[0])' > /dev/ttyS0 2>&1 ;;
  profile) mkdir -p /tmp/prof
     /bin/node $NODE_FLAGS --cpu-prof --cpu-prof-dir=/tmp/prof /agent/${IMAGE_FILES.agentMain} --transport=auto > /tmp/agent.log 2>&1 &
     pid=$!
     i=0; while ! grep -q '"agent ready"' /tmp/agent.log && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
     sleep "\${cocolet_profile_s:-3}"
     kill -TERM $pid; wait $pid
     cat /tmp/agent.log > /dev/ttyS0
     echo "${CONSOLE_MARKERS.profileBegin}" > /dev/ttyS0
     gzip -c /tmp/prof/*.cpuprofile | base64 > /dev/ttyS0
     echo "${CONSOLE_MARKERS.profileEnd}" > /dev/ttyS0 ;;
  *) /bin/node $NODE_FLAGS /agent/${IMAGE_FILES.agentMain} --transport=auto > /dev/ttyS0 2>&1
     echo "${CONSOLE_MARKERS.agentExit} $?" > /dev/ttyS0 ;;
esac
sync
poweroff -f
`;
}

/**
 * NODE_EXTRA_CA_CERTS and the Node processes the shim starts (its daemon, the `process` agent).
 * When it is set, Node reads and parses that CA bundle while it boots, before any code runs,
 * whether the program ever makes a TLS connection or not: ~140 certificates of a distribution's bundle cost 25 ms on an idle core and
 * ~200 ms at load 6 on this project's 2-core machine (`node -e 0`: 378 vs 140 ms), on every
 * start-up. containerd passes its own environment to the shim, so a host that sets it for other
 * tools made every shim daemon pay it on the pod's critical path.
 *
 * The shim's own `start` (twice per pod) makes none either: the installed binary begins with a
 * two-line sh header (host/shim/pack.ts SHIM_HEADER) that moves the value under DEFERRED_CA_ENV
 * before it execs `node` on itself, and the entry puts it back first thing.
 * The daemon makes no TLS connection (ttrpc on unix sockets; images are pulled by containerd or
 * in the guest): `start` hands it the value under DEFERRED_CA_ENV instead, and the daemon puts it
 * back into its environment once it runs, so what it spawns (QEMU, swtpm, runc, a replacement
 * agent) sees the environment containerd gave. The `process` hypervisor's agent does not get it at
 * all (agentEnv): a VM's agent never sees the host's environment, and its TLS (the KBS, the
 * confidential data hub) trusts Node's bundled roots or the certificate its init-data names.
 */

export const EXTRA_CA_ENV = 'NODE_EXTRA_CA_CERTS';
/** Where `start` leaves NODE_EXTRA_CA_CERTS for the daemon to restore after its boot. */
export const DEFERRED_CA_ENV = 'COCOLET_SHIM_NODE_EXTRA_CA_CERTS';

/** The daemon's environment from `start`'s: NODE_EXTRA_CA_CERTS moved aside. */
export function deferExtraCa(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out[DEFERRED_CA_ENV];
  const v = out[EXTRA_CA_ENV];
  if (v !== undefined) {
    delete out[EXTRA_CA_ENV];
    out[DEFERRED_CA_ENV] = v;
  }
  return out;
}

/** In the daemon, once booted: NODE_EXTRA_CA_CERTS back as containerd gave it, for what it spawns. */
export function restoreExtraCa(env: NodeJS.ProcessEnv = process.env): void {
  const v = env[DEFERRED_CA_ENV];
  if (v === undefined) return;
  delete env[DEFERRED_CA_ENV];
  env[EXTRA_CA_ENV] = v;
}

/** The `process` agent's environment from the launcher's: neither variable. */
export function agentEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out[EXTRA_CA_ENV];
  delete out[DEFERRED_CA_ENV];
  return out;
}

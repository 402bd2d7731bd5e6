/**
 * Built-in policies. The confidential default follows Kata genpolicy's defaults for confidential
 * pods: the host may manage the sandbox and its containers' lifecycle, but may not exec into
 * containers, read or write their stdio, copy files outside the shared-container paths, change
 * the policy, mount host-chosen storage, run privileged containers or touch guest networking.
 */
import type { PolicyDocument } from './types.js';

/** CopyFile targets Kata's shim uses for shared container files (bundle id, random, name). */
export const SHARED_COPY_PATH = '^/run/kata-containers/shared/containers/[0-9a-f]{64}-[a-z0-9]{16}-[A-Za-z0-9._-]+$';

export const CONFIDENTIAL_DEFAULT_POLICY: PolicyDocument = {
  version: 1,
  name: 'confidential-default',
  default: 'deny',
  rules: {
    // sandbox and container lifecycle the host needs
    CreateSandbox: { allow: true, allowGuestHooks: false, allowHostMounts: false },
    DestroySandbox: { allow: true },
    CreateContainer: { allow: true, allowHostMounts: false, allowPrivileged: false },
    StartContainer: { allow: true },
    RemoveContainer: { allow: true },
    SignalProcess: { allow: true },
    WaitProcess: { allow: true },
    StatsContainer: { allow: true },
    TtyWinResize: { allow: true },
    GetOOMEvent: { allow: true },
    GetGuestDetails: { allow: true },
    OnlineCPUMem: { allow: true },
    RemoveStaleVirtiofsShareMounts: { allow: true },
    // what stays inside the TEE
    ExecProcess: { allow: false },
    ReadStdout: { allow: false },
    ReadStderr: { allow: false },
    WriteStdin: { allow: false },
    CloseStdin: { allow: false },
    CopyFile: { allow: true, paths: [SHARED_COPY_PATH] },
    SetPolicy: { allow: false },
    PauseContainer: { allow: false },
    ResumeContainer: { allow: false },
    UpdateContainer: { allow: false },
    GetMetrics: { allow: false },
  },
};

/** Everything allowed except host mounts and privileged containers: development and tests only. */
export const PERMISSIVE_POLICY: PolicyDocument = {
  version: 1,
  name: 'permissive',
  default: 'allow',
  rules: {
    CreateContainer: { allow: true, allowHostMounts: false, allowPrivileged: false },
    CreateSandbox: { allow: true, allowGuestHooks: false, allowHostMounts: false },
    CopyFile: { allow: true, paths: [SHARED_COPY_PATH] },
  },
};

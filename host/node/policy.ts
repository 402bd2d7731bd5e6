/**
 * The guest policy `cocolet up` puts in the demo confidential pod's init-data: the agent's
 * confidential default (guest/policy/defaults.ts — restated here because host/ never imports
 * guest/; e2e/kubelet/up-confidential.test.ts checks the two agree) with ONE difference:
 * ReadStdout and ReadStderr are allowed, so `cocolet logs` shows what the TEE prints. A real
 * confidential workload keeps them denied.
 */

/** CopyFile targets Kata's shim uses for shared container files (bundle id, random, name). */
const SHARED_COPY_PATH = '^/run/kata-containers/shared/containers/[0-9a-f]{64}-[a-z0-9]{16}-[A-Za-z0-9._-]+$';

export const DEMO_POLICY = {
  version: 1,
  name: 'cocolet-up-demo',
  default: 'deny',
  rules: {
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
    ExecProcess: { allow: false },
    // the demo's one difference from the confidential default
    ReadStdout: { allow: true },
    ReadStderr: { allow: true },
    WriteStdin: { allow: false },
    CloseStdin: { allow: false },
    CopyFile: { allow: true, paths: [SHARED_COPY_PATH] },
    SetPolicy: { allow: false },
    PauseContainer: { allow: false },
    ResumeContainer: { allow: false },
    UpdateContainer: { allow: false },
    GetMetrics: { allow: false },
  },
} as const;

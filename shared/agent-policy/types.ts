/**
 * The guest agent's policy document, as data: the host authors it (into a pod's init-data), the
 * guest parses and enforces it (guest/policy/). A declarative JSON document, no Rego: rules keyed
 * by RPC method name (`CreateContainer`, `ExecProcess`, ...), `default` for the rest.
 */

export interface PolicyRule {
  allow: boolean;
  /** Image reference regexes; an entry `sha256:<hex>` instead pins the manifest digest. */
  images?: string[];
  /** Exact argv lists the process may run (CreateContainer, ExecProcess). */
  commands?: string[][];
  /** Regexes over the argv joined with single spaces. */
  commandPatterns?: string[];
  /** Every environment entry must match one of these regexes. */
  env?: string[];
  /** Regexes a CopyFile path must match. */
  paths?: string[];
  /** Host-chosen bind mounts / storages allowed (default false). */
  allowHostMounts?: boolean;
  /** Privileged containers (extra capabilities, host devices, host namespaces) allowed (default false). */
  allowPrivileged?: boolean;
  /** CreateSandbox: guest hooks and kernel modules allowed (default false). */
  allowGuestHooks?: boolean;
}

export interface PolicyDocument {
  version: 1;
  name: string;
  default: 'allow' | 'deny';
  rules: Record<string, PolicyRule>;
}

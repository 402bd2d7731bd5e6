/**
 * What protects a pod sandbox, as the host's parts name it: the hypervisors report it, the shim
 * writes it beside the sandbox, the kubelet shows it in events and `cocolet status`.
 *
 * `snp` / `tdx` = a hardware TEE launch (memory encrypted and integrity-protected against the
 * host, evidence from the CPU); `dev` = the development TEE (a QEMU VM with a host-run swtpm: a VM
 * boundary only, the host can read and change guest memory, the vTPM state and the console);
 * `none` = no VM at all (the process hypervisor).
 */
export type TeeKind = 'snp' | 'tdx' | 'dev' | 'none';

export const TEE_KINDS: readonly TeeKind[] = ['snp', 'tdx', 'dev', 'none'];

/** The label shown in logs, events and `cocolet status`. */
export function teeLabel(tee: TeeKind): string {
  return tee === 'snp' ? 'snp (AMD SEV-SNP)' : tee === 'tdx' ? 'tdx (Intel TDX)' : tee === 'dev' ? 'dev (not confidential)' : 'none (not confidential)';
}

/** What a sandbox of this kind protects, in one line (shim log, pod events, docs). */
export function teeDescription(tee: TeeKind): string {
  switch (tee) {
    case 'snp':
      return 'tee: snp (AMD SEV-SNP): guest memory encrypted and integrity-protected, evidence from the CPU';
    case 'tdx':
      return 'tee: tdx (Intel TDX): guest memory encrypted and integrity-protected, evidence from the CPU';
    case 'dev':
      return 'tee: dev (not confidential): QEMU without SEV-SNP/TDX and a host-run swtpm; the host can read and change guest memory, the vTPM and the console';
    case 'none':
      return 'tee: none (not confidential): no VM, the agent and its containers run as host processes';
  }
}

/**
 * The seam between the data hub and the TEE: an Attester turns the KBS binding digest
 * (report_data) into the `primary_evidence` JSON the broker's verifier for `tee` expects, in the
 * shapes trustee's attesters send.
 */

/** KBS protocol TEE names cocolet's attesters produce (kbs-types' `Tee` strings). */
export type AttesterTee = 'snp' | 'tdx' | 'tpm' | 'sample';

export interface Attester extends AsyncDisposable {
  /** The TEE name sent in the RCAR Request (`tee`). */
  readonly tee: AttesterTee;
  /**
   * True for the development TEE (a vTPM with no hardware TEE under it: QEMU + a host-run
   * swtpm), and for `sample`. Such evidence proves the protocol, not the protection: whoever runs
   * the host can forge it. Brokers refuse it unless configured to accept it.
   */
  readonly development: boolean;
  /** Evidence over `reportData` (the binding digest, up to 64 bytes). */
  evidence(reportData: Uint8Array): Promise<unknown>;
  close(): Promise<void>;
}

/** The guest attester: TEE detection and evidence in trustee's shapes (see README, "Attester"). */
export type { Attester, AttesterTee } from './types.js';
export { detectAttester, TPM_DEVICES, type DetectOptions } from './detect.js';
export { TpmAttester, DEFAULT_AK_HANDLE, TPM_REPORT_DATA_SIZE, type TpmAttesterOptions, type TpmEvidenceJson } from './tpm/attester.js';
export { DeviceTransport, SocketTransport, type TpmTransport } from './tpm/transport.js';
export { SnpAttester, TdxAttester } from './tsm/attester.js';
export { SampleAttester } from './sample.js';

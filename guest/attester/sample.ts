/**
 * trustee's `sample` attester: no TEE at all, `{"svn": "1", "report_data": base64(digest)}`.
 * Only for talking to a broker that is configured to accept it (trustee's sample verifier, in
 * interop tests on machines without a TEE); never chosen by detection.
 */
import type { Attester } from './types.js';

export class SampleAttester implements Attester {
  readonly tee = 'sample' as const;
  readonly development = true;

  evidence(reportData: Uint8Array): Promise<{ svn: string; report_data: string }> {
    return Promise.resolve({ svn: '1', report_data: Buffer.from(reportData).toString('base64') });
  }

  async close(): Promise<void> {}
  async [Symbol.asyncDispose](): Promise<void> {}
}

/**
 * Helpers for end-to-end tests that drive the guest data hub against a real broker (cocolet-kbs
 * as a process or a container, trustee's kbs).
 */
import assert from 'node:assert/strict';
import type { ConfidentialDataHub } from '../../guest/cdh/hub.js';
import type { CdhError } from '../../guest/cdh/kbs-client.js';

/** Runs `fn` with the hub and closes the hub afterwards, whatever happened. */
export async function withHub<T>(cdh: ConfidentialDataHub, fn: (c: ConfidentialDataHub) => Promise<T>): Promise<T> {
  try {
    return await fn(cdh);
  } finally {
    await cdh.close();
  }
}

/** Asserts the hub refused with this check and a message matching `detail`, naming no part of `secret`. */
export async function refusedBy(p: Promise<unknown>, check: string, detail: RegExp, secret: string): Promise<void> {
  await assert.rejects(p, (e: CdhError) => {
    assert.equal(e.check, check, e.message);
    assert.match(e.message, detail);
    assert.equal(e.message.includes(secret), false);
    return true;
  });
}

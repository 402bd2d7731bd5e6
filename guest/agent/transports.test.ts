import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findVirtioPort } from './transports.js';

test('the virtio-serial port is found by its sysfs name once the name is filled', async () => {
  const sys = mkdtempSync(join(tmpdir(), 'cocolet-vports-'));
  try {
    // /dev/null stands in for the device node (the name must match and /dev/<port> must exist)
    mkdirSync(join(sys, 'null'));
    const found = findVirtioPort('agent.channel.0', sys, 5000);
    setTimeout(() => writeFileSync(join(sys, 'null', 'name'), 'agent.channel.0\n'), 50);
    assert.equal(await found, '/dev/null');
    assert.equal(await findVirtioPort('other', sys, 50), undefined);
  } finally {
    rmSync(sys, { recursive: true, force: true });
  }
});

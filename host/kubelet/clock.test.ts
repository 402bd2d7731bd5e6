import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, PeriodicTask } from './clock.js';

test('periodic task: a round at start, then after what each round returns; stop cancels the pending one', async () => {
  const clock = new FakeClock(0);
  const at: number[] = [];
  const waits = [100, 50];
  const task = new PeriodicTask(clock, async () => (at.push(clock.now()), waits.shift() ?? 10));
  task.start();
  await clock.advance(0);
  assert.deepEqual(at, [0]);
  await clock.advance(155);
  assert.deepEqual(at, [0, 100, 150]);
  task.stop();
  assert.equal(task.running, false);
  assert.equal(clock.pending, 0);
  await clock.advance(1000);
  assert.deepEqual(at, [0, 100, 150]);
});

test('periodic task: a round that arms its own timer (undefined) decides when the next one runs', async () => {
  const clock = new FakeClock(0);
  let rounds = 0;
  const task: PeriodicTask = new PeriodicTask(clock, async () => {
    rounds++;
    if (rounds === 1) task.after(30, () => task.run());
    return rounds === 1 ? undefined : 1000;
  });
  task.start();
  await clock.advance(29);
  assert.equal(rounds, 1);
  await clock.advance(1);
  assert.equal(rounds, 2);
  task.stop();
  task.after(1, () => task.run());
  assert.equal(clock.pending, 0, 'nothing is armed once stopped');
});

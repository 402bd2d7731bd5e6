import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, MAX_TIMER_MS, PeriodicTask, realClock } from './clock.js';

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

test('real clock: a wait longer than a 32-bit timer holds fires at its deadline, not at once', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  let fired = 0;
  const long = MAX_TIMER_MS * 2 + 5;
  realClock.setTimer(() => fired++, long);
  t.mock.timers.tick(10);
  assert.equal(fired, 0, 'fired after 10 ms');
  t.mock.timers.tick(MAX_TIMER_MS);
  assert.equal(fired, 0, 'fired after one 32-bit span');
  t.mock.timers.tick(long - MAX_TIMER_MS - 11);
  assert.equal(fired, 0, 'fired 1 ms early');
  t.mock.timers.tick(1);
  assert.equal(fired, 1);
  const h = realClock.setTimer(() => fired++, long);
  t.mock.timers.tick(MAX_TIMER_MS + 1);
  h.cancel();
  t.mock.timers.tick(long);
  assert.equal(fired, 1, 'a cancelled chain does not fire');
});

test('real clock: a wait longer than a 32-bit timer holds does not fire before a short one', async () => {
  const order: string[] = [];
  const keepAlive = setInterval(() => undefined, 1000); // the clock's timers are unref'd
  const long = realClock.setTimer(() => order.push('long'), MAX_TIMER_MS + 1);
  await new Promise<void>((resolve) => realClock.setTimer(() => (order.push('short'), resolve()), 20));
  long.cancel();
  clearInterval(keepAlive);
  assert.deepEqual(order, ['short']);
});

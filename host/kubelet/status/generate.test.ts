import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerStatus, Pod } from '../api/types.js';
import { podPhase } from './generate.js';

const pod = (restartPolicy: 'Always' | 'OnFailure' | 'Never'): Pod => ({ metadata: { name: 'p' }, spec: { restartPolicy, containers: [] } });
const cs = (state: ContainerStatus['state'], lastState: ContainerStatus['lastState'] = {}): ContainerStatus => ({ name: 'c', state, lastState, ready: false, restartCount: 0, image: '', imageID: '' });
const running = cs({ running: {} });
const ok = cs({ terminated: { exitCode: 0 } });
const bad = cs({ terminated: { exitCode: 1 } });
const creating = cs({ waiting: { reason: 'ContainerCreating' } });
const backoff = cs({ waiting: { reason: 'CrashLoopBackOff' } }, { terminated: { exitCode: 1 } });

const cases: { name: string; policy: 'Always' | 'OnFailure' | 'Never'; init?: ContainerStatus[]; app: ContainerStatus[]; want: string }[] = [
  { name: 'all running', policy: 'Always', app: [running, running], want: 'Running' },
  { name: 'one still creating', policy: 'Always', app: [running, creating], want: 'Pending' },
  { name: 'init not done', policy: 'Always', init: [creating], app: [creating], want: 'Pending' },
  { name: 'init failed, Never', policy: 'Never', init: [bad], app: [creating], want: 'Failed' },
  { name: 'crash looping, Always', policy: 'Always', app: [backoff], want: 'Running' },
  { name: 'all exited 0, Never', policy: 'Never', app: [ok, ok], want: 'Succeeded' },
  { name: 'one failed, Never', policy: 'Never', app: [ok, bad], want: 'Failed' },
  { name: 'exited 0, OnFailure', policy: 'OnFailure', app: [ok], want: 'Succeeded' },
  { name: 'exited 1, OnFailure (restarting)', policy: 'OnFailure', app: [bad], want: 'Running' },
  { name: 'exited, Always (restarting)', policy: 'Always', app: [ok], want: 'Running' },
  { name: 'one running one done, Never', policy: 'Never', app: [running, ok], want: 'Running' },
];
for (const tc of cases) test(`phase: ${tc.name} → ${tc.want}`, () => assert.equal(podPhase(pod(tc.policy), tc.init ?? [], tc.app), tc.want));

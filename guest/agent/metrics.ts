/** All agent metric names, in one place (Prometheus text via GetMetrics). */
export const METRICS = {
  policyDecisions: 'cocolet_agent_policy_decisions_total',
  containers: 'cocolet_agent_containers',
  rssBytes: 'cocolet_agent_resident_memory_bytes',
  outputDiscarded: 'cocolet_agent_output_discarded_bytes_total',
} as const;

export function renderMetrics(decisions: Record<string, number>, containers: number, discarded?: { stdout: number; stderr: number }): string {
  const lines = [
    `# HELP ${METRICS.policyDecisions} Policy decisions by request and result.`,
    `# TYPE ${METRICS.policyDecisions} counter`,
  ];
  for (const [k, v] of Object.entries(decisions).sort()) {
    const [rpc, result] = k.split(':');
    lines.push(`${METRICS.policyDecisions}{rpc="${rpc}",result="${result}"} ${v}`);
  }
  lines.push(`# TYPE ${METRICS.containers} gauge`, `${METRICS.containers} ${containers}`);
  lines.push(`# TYPE ${METRICS.rssBytes} gauge`, `${METRICS.rssBytes} ${process.memoryUsage().rss}`);
  if (discarded) {
    lines.push(`# HELP ${METRICS.outputDiscarded} Container output drained and discarded because the policy forbids the host to read it (counts only).`);
    lines.push(`# TYPE ${METRICS.outputDiscarded} counter`);
    for (const stream of ['stdout', 'stderr'] as const) lines.push(`${METRICS.outputDiscarded}{stream="${stream}"} ${discarded[stream]}`);
  }
  return lines.join('\n') + '\n';
}

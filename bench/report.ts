/**
 * The benchmark output convention: a human table, then, last, one JSON line per figure:
 * {"bench","figure","unit","value","peer","peer_value","ratio","better"} with the peer measured
 * in the same run on the same machine. ratio = value / peer_value.
 */

export interface Figure {
  /** What was measured, e.g. `unary_rps_16B_c1`. */
  figure: string;
  unit: string;
  value: number;
  /** The comparison peer, e.g. `go-ttrpc`. */
  peer: string;
  peer_value: number;
  better: 'higher' | 'lower';
}

export class BenchReport {
  private readonly figures: Figure[] = [];
  private readonly notes: string[] = [];

  constructor(readonly bench: string) {}

  add(f: Figure): void {
    this.figures.push(f);
  }

  note(line: string): void {
    this.notes.push(line);
  }

  /** Prints the table and then the JSON lines; returns the JSON records. */
  print(out: (line: string) => void = (l) => process.stdout.write(l + '\n')): object[] {
    const rows = this.figures.map((f) => [f.figure, fmt(f.value), f.unit, f.peer, fmt(f.peer_value), ratio(f).toFixed(3), f.better]);
    const head = ['figure', 'value', 'unit', 'peer', 'peer value', 'ratio', 'better'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
    const line = (r: string[]): string => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
    out(`== bench ${this.bench}`);
    out(line(head));
    out(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) out(line(r));
    for (const n of this.notes) out(`note: ${n}`);
    const records = this.figures.map((f) => ({
      bench: this.bench,
      figure: f.figure,
      unit: f.unit,
      value: round(f.value),
      peer: f.peer,
      peer_value: round(f.peer_value),
      ratio: round(ratio(f)),
      better: f.better,
    }));
    for (const r of records) out(JSON.stringify(r));
    return records;
  }
}

function ratio(f: Figure): number {
  return f.peer_value === 0 ? 0 : f.value / f.peer_value;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(3);
}

/** Percentile (0..100) of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

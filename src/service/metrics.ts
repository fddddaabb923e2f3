/**
 * A few Prometheus metrics in the text exposition format (0.0.4): request counts and latencies by
 * route, job and verification outcomes, process memory. Small enough not to need prom-client.
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;
const key = (l: Labels): string => Object.entries(l).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',');

export class Metrics {
  #counters = new Map<string, { help: string; values: Map<string, number> }>();
  #hist = new Map<string, { help: string; series: Map<string, { buckets: number[]; sum: number; count: number }> }>();
  #gauges = new Map<string, { help: string; read: () => number }>();

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    let c = this.#counters.get(name);
    if (!c) this.#counters.set(name, (c = { help, values: new Map() }));
    const k = key(labels);
    c.values.set(k, (c.values.get(k) ?? 0) + by);
  }

  observe(name: string, help: string, labels: Labels, seconds: number): void {
    let h = this.#hist.get(name);
    if (!h) this.#hist.set(name, (h = { help, series: new Map() }));
    const k = key(labels);
    let s = h.series.get(k);
    if (!s) h.series.set(k, (s = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) s!.buckets[i]!++;
    });
    s.sum += seconds;
    s.count++;
  }

  gauge(name: string, help: string, read: () => number): void {
    this.#gauges.set(name, { help, read });
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.#counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [k, v] of c.values) lines.push(`${name}${k ? `{${k}}` : ''} ${v}`);
    }
    for (const [name, h] of this.#hist) {
      lines.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} histogram`);
      for (const [k, s] of h.series) {
        const pre = k ? k + ',' : '';
        BUCKETS.forEach((b, i) => lines.push(`${name}_bucket{${pre}le="${b}"} ${s.buckets[i]}`));
        lines.push(`${name}_bucket{${pre}le="+Inf"} ${s.count}`, `${name}_sum${k ? `{${k}}` : ''} ${s.sum}`, `${name}_count${k ? `{${k}}` : ''} ${s.count}`);
      }
    }
    for (const [name, g] of this.#gauges) lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    return lines.join('\n') + '\n';
  }
}

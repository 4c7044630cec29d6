/**
 * The broker's {@link FlushableMetrics} as CloudWatch embedded metric format (EMF):
 * counters summed and durations gathered in memory per (metric, dimension values), and
 * written by `flush()` as one JSON document per line, as few documents as EMF allows.
 *
 * A counter counted with `{ profile, code }` lands in the dimension sets `[service]`,
 * `[service, profile]` and `[service, code]`; one without dimensions in `[service]` only.
 * A set thus holds at most two dimensions (EMF allows 30).
 * These are the sets the stack's alarms (`service`) and dashboard
 * (`{TokenBroker,service,profile}`) read. A document's dimension values are members of
 * its root, one value per name, so counters of two profiles need two documents; whatever
 * does not conflict shares one. A token request touches one profile: one document.
 *
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import type { FlushableMetrics, MetricName } from '../types.ts';

/** EMF: at most 100 metric definitions per directive; kept per document, across its directives. */
export const MAX_METRICS_PER_DOCUMENT = 100;

/** EMF: at most 100 values in one metric's array; more samples go to another document. */
export const MAX_VALUES_PER_METRIC = 100;

/** Options of {@link createEmfMetrics}. */
export interface EmfMetricsOptions {
  /** CloudWatch namespace of every metric. */
  readonly namespace: string;
  /** Value of the `service` dimension every metric carries. */
  readonly service: string;
  /** Receives each document, newline included; default: `process.stdout`, where Lambda reads EMF. */
  readonly write?: (line: string) => void;
  /** Epoch milliseconds of `_aws.Timestamp`; default `Date.now`. */
  readonly clock?: () => number;
}

type Unit = 'Count' | 'Milliseconds';

/** One metric with one set of dimension values, as gathered since the last flush. */
interface Series {
  readonly name: MetricName;
  readonly unit: Unit;
  readonly dimensions: readonly (readonly [string, string])[];
  /** A counter's running sum (one value), or every sample of a duration. */
  readonly values: number[];
}

interface Directive {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: { Name: string; Unit: Unit }[];
}

/** A document being filled: its root and its directives by dimension keys. */
interface Document {
  readonly root: Record<string, unknown>;
  readonly directives: Map<string, Directive>;
  readonly list: Directive[];
  metrics: number;
}

/** Dimension names the document root uses for itself. */
const RESERVED = new Set(['service', '_aws']);

const SEPARATOR = '\u0000';

/** The series key: metric name and dimension values, in the caller's order. */
function seriesKey(name: string, dimension: Readonly<Record<string, string>>): string {
  let key = name;
  for (const [dimensionName, value] of Object.entries(dimension)) {
    key += `${SEPARATOR}${dimensionName}${SEPARATOR}${value}`;
  }
  return key;
}

/**
 * `dimension` as pairs, without empty values (CloudWatch refuses them).
 * @throws TypeError when a name is one the root uses for itself
 */
function dimensionPairs(dimension: Readonly<Record<string, string>>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(dimension)) {
    if (RESERVED.has(name)) throw new TypeError(`metric dimension name "${name}" is reserved`);
    if (value !== '') pairs.push([name, value]);
  }
  return pairs;
}

/** Whether `series` can join `doc`: room left, its name free, its dimension values agreeing. */
function fits(doc: Document, series: Series): boolean {
  if (doc.metrics >= MAX_METRICS_PER_DOCUMENT || Object.hasOwn(doc.root, series.name)) return false;
  return series.dimensions.every(([name, value]) => doc.root[name] === undefined || doc.root[name] === value);
}

function add(doc: Document, series: Series, values: number[], namespace: string): void {
  for (const [name, value] of series.dimensions) doc.root[name] = value;
  doc.root[series.name] = values.length === 1 ? values[0] : values;
  const names = series.dimensions.map(([name]) => name);
  const signature = names.join(SEPARATOR);
  let directive = doc.directives.get(signature);
  if (directive === undefined) {
    directive = {
      Namespace: namespace,
      Dimensions: [['service'], ...names.map((name) => ['service', name])],
      Metrics: [],
    };
    doc.directives.set(signature, directive);
    doc.list.push(directive);
  }
  directive.Metrics.push({ Name: series.name, Unit: series.unit });
  doc.metrics++;
}

/** The documents holding every series, each within EMF's limits. */
function pack(all: Iterable<Series>, options: EmfMetricsOptions, timestamp: number): Document[] {
  const docs: Document[] = [];
  for (const series of all) {
    for (let at = 0; at < series.values.length; at += MAX_VALUES_PER_METRIC) {
      let doc = docs.find((candidate) => fits(candidate, series));
      if (doc === undefined) {
        const list: Directive[] = [];
        doc = {
          root: { _aws: { Timestamp: timestamp, CloudWatchMetrics: list }, service: options.service },
          directives: new Map(),
          list,
          metrics: 0,
        };
        docs.push(doc);
      }
      add(doc, series, series.values.slice(at, at + MAX_VALUES_PER_METRIC), options.namespace);
    }
  }
  return docs;
}

/**
 * A {@link FlushableMetrics} writing EMF. `count()` adds to the sum of its metric and
 * dimension values, `timing()` keeps each sample; nothing is written until `flush()`,
 * which writes what was gathered and starts afresh. A gauge counted once per profile per
 * flush (`CertificateDaysLeft`) stays its own value in the `[service]` set, so a Minimum
 * over profiles still reads the smallest.
 */
export function createEmfMetrics(options: EmfMetricsOptions): FlushableMetrics {
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const clock = options.clock ?? Date.now;
  let gathered = new Map<string, Series>();
  return {
    count: (name, value = 1, dimension) => {
      const key = dimension === undefined ? name : seriesKey(name, dimension);
      const series = gathered.get(key);
      if (series !== undefined) series.values[0]! += value;
      else
        gathered.set(key, {
          name,
          unit: 'Count',
          dimensions: dimension === undefined ? [] : dimensionPairs(dimension),
          values: [value],
        });
    },
    timing: (name, milliseconds) => {
      const key = `${SEPARATOR}${name}`;
      const series = gathered.get(key);
      if (series !== undefined) series.values.push(milliseconds);
      else gathered.set(key, { name, unit: 'Milliseconds', dimensions: [], values: [milliseconds] });
    },
    flush: () => {
      if (gathered.size === 0) return;
      // Taken before writing: a write that throws does not write the same counts twice.
      const all = gathered.values();
      gathered = new Map();
      for (const doc of pack(all, options, clock())) write(`${JSON.stringify(doc.root)}\n`);
    },
  };
}

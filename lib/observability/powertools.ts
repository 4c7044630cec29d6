/**
 * The Lambda functions' {@link Logger} and {@link Metrics}: Powertools for AWS Lambda
 * structured JSON logs, and CloudWatch EMF metrics in namespace `TokenBroker` (written by
 * `emf.ts`). The local server uses `json-logger.ts`.
 *
 * @see https://docs.powertools.aws.dev/lambda/typescript/latest/core/logger/
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import { LogLevelThreshold, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { FlushableMetrics, LogFields, Logger } from '../types.ts';
import { createEmfMetrics, type EmfMetricsOptions } from './emf.ts';

/** CloudWatch namespace of every broker metric. */
export const METRICS_NAMESPACE = 'TokenBroker';

/** Default service name in logs and metrics. */
export const SERVICE_NAME = 'token-broker';

/** Powertools' threshold of DEBUG: a logger at this level or below writes debug lines. */
const DEBUG_LEVEL = LogLevelThreshold.DEBUG;

/** Log levels the adapters accept. */
export type LogLevelName = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

/** Options of {@link createPowertoolsLogger}. */
export interface PowertoolsLoggerOptions {
  readonly serviceName?: string;
  readonly logLevel?: LogLevelName;
  /** An existing Powertools logger (tests); default: a new one. */
  readonly logger?: PowertoolsLogger;
}

/**
 * Keys Powertools keeps for itself and drops from a line's extra fields (with a warning
 * of its own), mapped to the name they are logged under instead. The broker's own code
 * never uses them; this keeps a field that slips through.
 */
const RESERVED_KEYS: Readonly<Record<string, string>> = {
  message: 'reason',
  level: 'fieldLevel',
  timestamp: 'fieldTimestamp',
  service: 'fieldService',
  sampling_rate: 'fieldSamplingRate',
};

/** `fields` with every reserved key renamed (see {@link RESERVED_KEYS}); the same object when none is. */
export function withoutReservedKeys(fields: LogFields): LogFields {
  if (!Object.keys(fields).some((key) => Object.hasOwn(RESERVED_KEYS, key))) return fields;
  const out: Record<string, LogFields[string]> = {};
  for (const [key, value] of Object.entries(fields)) {
    const renamed = Object.hasOwn(RESERVED_KEYS, key) ? RESERVED_KEYS[key]! : key;
    out[Object.hasOwn(fields, renamed) && renamed !== key ? `${renamed}_` : renamed] = value;
  }
  return out;
}

/** A {@link Logger} writing Powertools structured JSON lines. */
export function createPowertoolsLogger(options: PowertoolsLoggerOptions = {}): Logger {
  const logger =
    options.logger ??
    new PowertoolsLogger({
      serviceName: options.serviceName ?? SERVICE_NAME,
      // Without an explicit level Powertools reads POWERTOOLS_LOG_LEVEL (default INFO);
      // passing one here would override the stack's setting.
      ...(options.logLevel !== undefined && { logLevel: options.logLevel }),
    });
  const extra = (fields: LogFields | undefined): Record<string, unknown>[] =>
    fields ? [{ ...withoutReservedKeys(fields) }] : [];
  return {
    debug: (message, fields) => logger.debug(message, ...extra(fields)),
    info: (message, fields) => logger.info(message, ...extra(fields)),
    warn: (message, fields) => logger.warn(message, ...extra(fields)),
    error: (message, fields) => logger.error(message, ...extra(fields)),
    // Read per call: Powertools' log sampling may turn DEBUG on for one invocation.
    isDebugEnabled: () => logger.level <= DEBUG_LEVEL,
  };
}

/** Options of {@link createPowertoolsMetrics}. */
export interface PowertoolsMetricsOptions extends Pick<EmfMetricsOptions, 'write' | 'clock'> {
  readonly serviceName?: string;
}

/**
 * The functions' {@link Metrics}: EMF in {@link METRICS_NAMESPACE}, the format Powertools
 * writes, gathered in memory and written by `flush()` (the HTTP stack and the refresh
 * handler call it once per invocation, before the handler settles). Every counter is in
 * the `service` set and, per dimension it is counted with (`profile`, `code`), in
 * `[service, <dimension>]`; a token request writes one line. See `emf.ts`.
 */
export function createPowertoolsMetrics(options: PowertoolsMetricsOptions = {}): FlushableMetrics {
  return createEmfMetrics({
    namespace: METRICS_NAMESPACE,
    service: options.serviceName ?? SERVICE_NAME,
    ...(options.write !== undefined && { write: options.write }),
    ...(options.clock !== undefined && { clock: options.clock }),
  });
}

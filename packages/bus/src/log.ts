// Structured logs: pino, one JSON object per line on stdout, so the platform's collector parses
// them without a sidecar format.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/** The subset of a logger the bus itself uses; a pino Logger satisfies it. */
export interface BusLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type LogLevel = LevelWithSilent;

export interface LoggerOptions {
  /** Component name, logged as `name` on every line (e.g. "ingest"). */
  name: string;
  /** Default "info". */
  level?: LogLevel;
  /** Where lines go; default stdout. Tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Fields added to every line (e.g. worker id). */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const opts = {
    name: options.name,
    level: options.level ?? "info",
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}

/** A logger that drops everything (the default when none is injected). */
export const silentLogger: BusLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

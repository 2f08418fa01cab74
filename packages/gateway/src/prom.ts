// TEMPORARY: prom-client's classes, loaded through @drivecast/bus's own dependency until the bus
// exports its re-exports (packages/bus/src/metrics.ts). Then: import from "@drivecast/bus".
import { createRequire } from "node:module";

type Labels<T extends string> = Partial<Record<T, string | number>>;

export interface Counter<T extends string = string> {
  inc(labels?: Labels<T> | number, value?: number): void;
}
export interface Gauge<T extends string = string> {
  inc(labels?: Labels<T> | number, value?: number): void;
  dec(labels?: Labels<T> | number, value?: number): void;
  set(labels: Labels<T> | number, value?: number): void;
}
export interface MetricValue {
  labels: Partial<Record<string, string | number>>;
  value: number;
}
export interface Registry {
  metrics(): Promise<string>;
  getSingleMetric(name: string): { get(): Promise<{ values: MetricValue[] }> } | undefined;
}

interface MetricOptions<T extends string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  registers?: Registry[];
}

interface PromClient {
  Counter: new <T extends string>(o: MetricOptions<T>) => Counter<T>;
  Gauge: new <T extends string>(o: MetricOptions<T>) => Gauge<T>;
  Registry: new () => Registry;
}

const fromBus = createRequire(createRequire(import.meta.url).resolve("@drivecast/bus"));
const prom = fromBus("prom-client") as PromClient;

export const Counter = prom.Counter;
export const Gauge = prom.Gauge;
export const Registry = prom.Registry;

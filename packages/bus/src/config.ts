// Typed reading of `DRIVECAST_*` settings. Every worker's main.ts hands its environment to a
// parser built from these; a bad value fails start-up with a message naming the setting.

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly retriable = false;
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}

export type Env = Record<string, string | undefined>;

export interface Settings {
  string(name: string, fallback: string): string;
  optionalString(name: string): string | undefined;
  /** Integer in [min, max]. */
  int(name: string, fallback: number, min?: number, max?: number): number;
  bool(name: string, fallback: boolean): boolean;
  /** Comma-separated list, trimmed, empty items dropped. */
  list(name: string, fallback: string[]): string[];
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  /** URL with http(s) or nats scheme. */
  url(name: string, fallback?: string): string;
}

export function settings(env: Env): Settings {
  const raw = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };
  return {
    string: (name, fallback) => raw(name) ?? fallback,
    optionalString: (name) => raw(name),
    int(name, fallback, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
      const v = raw(name);
      if (v === undefined) return fallback;
      if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `expected an integer, got "${v}"`);
      const n = Number(v);
      if (n < min || n > max)
        throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
      return n;
    },
    bool(name, fallback) {
      const v = raw(name)?.toLowerCase();
      if (v === undefined) return fallback;
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      throw new ConfigError(name, `expected true or false, got "${v}"`);
    },
    list(name, fallback) {
      const v = raw(name);
      if (v === undefined) return fallback;
      return v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    },
    oneOf(name, allowed, fallback) {
      const v = raw(name);
      if (v === undefined) return fallback;
      if (!(allowed as readonly string[]).includes(v)) {
        throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got "${v}"`);
      }
      return v as (typeof allowed)[number];
    },
    url(name, fallback) {
      const v = raw(name) ?? fallback;
      if (v === undefined) throw new ConfigError(name, "is required");
      try {
        new URL(v.split(",")[0]!);
      } catch {
        throw new ConfigError(name, `expected a URL, got "${v}"`);
      }
      return v;
    },
  };
}

/** Settings every role shares (documented once in the README). */
export interface CommonConfig {
  natsUrl: string;
  nuxeo: {
    url: string;
    user: string | undefined;
    password: string | undefined;
    token: string | undefined;
  };
  admin: { host: string; port: number };
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  naming: { prefix: string; subjectPrefix: string };
  shardCount: number;
  replicas: number;
}

export function commonConfig(s: Settings, defaults: { adminPort: number }): CommonConfig {
  const nuxeo = {
    url: s.url("DRIVECAST_NUXEO_URL", "http://127.0.0.1:8080/nuxeo"),
    user: s.optionalString("DRIVECAST_NUXEO_USER"),
    password: s.optionalString("DRIVECAST_NUXEO_PASSWORD"),
    token: s.optionalString("DRIVECAST_NUXEO_TOKEN"),
  };
  if (nuxeo.token === undefined && (nuxeo.user === undefined || nuxeo.password === undefined)) {
    throw new ConfigError(
      "DRIVECAST_NUXEO_TOKEN",
      "set it, or DRIVECAST_NUXEO_USER and DRIVECAST_NUXEO_PASSWORD, for the service account",
    );
  }
  return {
    natsUrl: s.url("DRIVECAST_NATS_URL", "nats://127.0.0.1:4222"),
    nuxeo,
    admin: {
      host: s.string("DRIVECAST_ADMIN_HOST", "0.0.0.0"),
      port: s.int("DRIVECAST_ADMIN_PORT", defaults.adminPort, 0, 65_535),
    },
    logLevel: s.oneOf(
      "DRIVECAST_LOG_LEVEL",
      ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const,
      "info",
    ),
    naming: {
      prefix: s.string("DRIVECAST_NAME_PREFIX", ""),
      subjectPrefix: s.string("DRIVECAST_SUBJECT_PREFIX", ""),
    },
    // Fixed for a cluster: every role must use the same value.
    shardCount: s.int("DRIVECAST_SHARDS", 64, 1, 65_536),
    replicas: s.int("DRIVECAST_REPLICAS", 1, 1, 5),
  };
}

// The ingest's Record decoder: the protocol's synchronous decoder on the hot path, completed by
// I/O when a record names a writer schema it does not know.
//
// - `avro`: an unknown fingerprint reloads every `*.avsc` of the schema folder (Nuxeo adds a
//   file there when its Record schema changes, named by fingerprint) and the record is decoded
//   again. A fingerprint that stayed unknown is looked for again only once the folder changed
//   (its mtime: a file was added or removed), so a run of corrupt payloads that happen to start
//   with C3 01 costs one stat each, not a folder read each.
// - `avroConfluent`: an unknown id is fetched from the registry once and kept for good (registry
//   ids are immutable). An id the registry does not know is remembered for `retryUnknownMs`.
//   An unreachable registry is a retriable failure: the batch waits, nothing is dead-lettered.
// Concurrent misses of one fingerprint or id share one load.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  createRecordDecoder,
  InvalidSchemaError,
  UnknownSchemaError,
  UnknownSchemaIdError,
  type RecordCodec,
  type RecordDecoder,
  type RecordSchemaVersion,
} from "@drivecast/protocol";
import type { SchemaRegistry } from "./schema-registry.js";
import type { IngestDecoder } from "./types.js";

export interface IngestDecoderOptions {
  codec: RecordCodec;
  /** Folder of extra `*.avsc` writer schemas (codec avro), read at start and on unknown ones. */
  schemaDir?: string;
  /** avroBinary / avroJson: the writer schema, a bundled version or an .avsc text. */
  writerSchema?: RecordSchemaVersion | (string & {});
  /** avroConfluent: where schemas come from. */
  registry?: SchemaRegistry;
  /** How long a registry id the registry did not know stays unknown (default 30 s). */
  retryUnknownMs?: number;
  now?: () => number;
  /** A schema file that does not parse (skipped) or a reload (for logs and metrics). */
  onSchemaEvent?: (event: SchemaEvent) => void;
}

export type SchemaEvent =
  | { type: "invalidFile"; file: string; error: Error }
  | { type: "reloaded"; source: "dir" | "registry"; known: number }
  | { type: "unknown"; source: "dir" | "registry"; id: string };

/** Every `*.avsc` text of `dir` with its file name, in name order. */
export async function readSchemaDir(dir: string): Promise<{ file: string; text: string }[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".avsc")).sort();
  return Promise.all(
    files.map(async (file) => ({ file, text: await readFile(join(dir, file), "utf8") })),
  );
}

class IngestDecoderImpl implements IngestDecoder {
  private readonly tried = new Map<string, number>();
  /** mtime of the schema folder when it was last read. */
  private dirMtime = -1;
  private readonly loading = new Map<string, Promise<boolean>>();
  private readonly retryUnknownMs: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: RecordDecoder,
    private readonly options: IngestDecoderOptions,
  ) {
    this.retryUnknownMs = options.retryUnknownMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  get codec(): RecordCodec {
    return this.inner.codec;
  }

  decode(payload: Uint8Array) {
    return this.inner.decode(payload);
  }

  schemas() {
    return this.inner.schemas();
  }

  async loadDir(): Promise<void> {
    const dir = this.options.schemaDir;
    if (dir === undefined) return;
    this.dirMtime = (await stat(dir)).mtimeMs;
    for (const { file, text } of await readSchemaDir(dir)) {
      try {
        this.inner.addSchema(text);
      } catch (error) {
        if (!(error instanceof InvalidSchemaError)) throw error;
        this.options.onSchemaEvent?.({ type: "invalidFile", file: join(dir, file), error });
      }
    }
  }

  recover(error: unknown): Promise<boolean> {
    if (error instanceof UnknownSchemaError) {
      if (this.inner.hasSchema(error.fingerprint)) return Promise.resolve(true);
      const dir = this.options.schemaDir;
      if (dir === undefined) return Promise.resolve(false);
      return this.once(`fp:${error.fingerprint}`, async () => {
        if (this.tried.has(`fp:${error.fingerprint}`)) {
          const mtime = (await stat(dir)).mtimeMs;
          if (mtime === this.dirMtime) return false;
        }
        await this.loadDir();
        const known = this.inner.hasSchema(error.fingerprint);
        this.options.onSchemaEvent?.(
          known
            ? { type: "reloaded", source: "dir", known: this.inner.schemas().length }
            : { type: "unknown", source: "dir", id: error.fingerprintHex },
        );
        return known;
      });
    }
    if (error instanceof UnknownSchemaIdError) {
      const registry = this.options.registry;
      if (this.inner.hasRegistrySchema(error.schemaId)) return Promise.resolve(true);
      if (registry === undefined) return Promise.resolve(false);
      return this.once(`id:${error.schemaId}`, async () => {
        const text = await registry.schemaById(error.schemaId);
        if (text === null) {
          this.options.onSchemaEvent?.({
            type: "unknown",
            source: "registry",
            id: String(error.schemaId),
          });
          return false;
        }
        // InvalidSchemaError propagates: the record is dead-lettered with that reason.
        this.inner.addRegistrySchema(error.schemaId, text);
        this.options.onSchemaEvent?.({
          type: "reloaded",
          source: "registry",
          known: this.inner.schemas().length,
        });
        return true;
      });
    }
    return Promise.resolve(false);
  }

  /**
   * One load per key at a time. A registry id that stayed unknown is not asked for again
   * before `retryUnknownMs`; a fingerprint, not before the folder changed (checked by the load).
   */
  private once(key: string, load: () => Promise<boolean>): Promise<boolean> {
    const pending = this.loading.get(key);
    if (pending !== undefined) return pending;
    const last = this.tried.get(key);
    if (key.startsWith("id:") && last !== undefined && this.now() - last < this.retryUnknownMs) {
      return Promise.resolve(false);
    }
    const p = load()
      .then((known) => {
        if (known) this.tried.delete(key);
        else {
          this.tried.set(key, this.now());
          // Bounded: corrupt payloads can carry any number of distinct fingerprints.
          if (this.tried.size > 10_000) {
            const oldest = this.tried.keys().next().value;
            if (oldest !== undefined) this.tried.delete(oldest);
          }
        }
        return known;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }
}

/**
 * The decoder for `options.codec`, with the schema folder loaded. Throws the protocol's
 * UnsupportedCodecError / InvalidSchemaError for a bad configuration.
 */
export async function createIngestDecoder(options: IngestDecoderOptions): Promise<IngestDecoder> {
  const inner = createRecordDecoder({
    codec: options.codec,
    writerSchema: options.writerSchema,
    // The pipeline parses `data` at once and keeps the Kafka value itself for dead letters.
    dataAsView: true,
  });
  const decoder = new IngestDecoderImpl(inner, options);
  await decoder.loadDir();
  return decoder;
}

/**
 * An IngestDecoder over a protocol decoder with no schema source: unknown writer schemas stay
 * unknown (dead letters). What embedded mode and tests that build their own decoder use.
 */
export function ingestDecoderOf(decoder: RecordDecoder | IngestDecoder): IngestDecoder {
  if ("recover" in decoder) return decoder;
  return {
    get codec() {
      return decoder.codec;
    },
    decode: (payload) => decoder.decode(payload),
    recover: async (error) =>
      (error instanceof UnknownSchemaError && decoder.hasSchema(error.fingerprint)) ||
      (error instanceof UnknownSchemaIdError && decoder.hasRegistrySchema(error.schemaId)),
    schemas: () => decoder.schemas(),
  };
}

// msgpack codecs for the internal messages. One encoder/decoder pair, created once: msgpack's
// Encoder reuses its buffer, which matters on the per-event path.
import { Decoder, Encoder } from "@msgpack/msgpack";

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** A msgpack codec for T. Decoding trusts the producer (internal subjects only). */
export function msgpackCodec<T>(): Codec<T> {
  return {
    // encode() returns a view into the shared buffer; copy so callers may keep it.
    encode: (value) => encoder.encode(value).slice(),
    decode: (bytes) => decoder.decode(bytes) as T,
  };
}

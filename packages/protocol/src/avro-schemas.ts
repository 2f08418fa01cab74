// The two Record schemas Nuxeo ships (spec/avro/*.avsc), byte for byte as Nuxeo writes them to its
// schema store (`${nuxeo.data.dir}/avro`). A unit test checks these against the files. The files keep
// Jackson's pretty-printer layout and the Java-only `java-class` hints; neither affects the
// fingerprint, which is taken over the parsing canonical form.

/** Nuxeo LTS 2023 (fields sorted by name): `Record-0x5D82F1387F01C58B.avsc`. */
export const RECORD_SCHEMA_2023 = `{
  "type" : "record",
  "name" : "Record",
  "namespace" : "org.nuxeo.lib.stream.computation",
  "fields" : [ {
    "name" : "appenderThread",
    "type" : [ "null", "string" ],
    "default" : null
  }, {
    "name" : "data",
    "type" : [ "null", {
      "type" : "bytes",
      "java-class" : "[B"
    } ],
    "default" : null
  }, {
    "name" : "flagsAsByte",
    "type" : {
      "type" : "int",
      "java-class" : "java.lang.Byte"
    }
  }, {
    "name" : "key",
    "type" : "string"
  }, {
    "name" : "traceContext",
    "type" : [ "null", {
      "type" : "bytes",
      "java-class" : "[B"
    } ],
    "default" : null
  }, {
    "name" : "watermark",
    "type" : "long"
  } ]
}
`;

/** Nuxeo LTS 2021 (fields in declaration order): `Record-0xEE727BE73E8D498.avsc`. */
export const RECORD_SCHEMA_2021 = `{
  "type" : "record",
  "name" : "Record",
  "namespace" : "org.nuxeo.lib.stream.computation",
  "fields" : [ {
    "name" : "watermark",
    "type" : "long"
  }, {
    "name" : "key",
    "type" : "string"
  }, {
    "name" : "data",
    "type" : [ "null", {
      "type" : "bytes",
      "java-class" : "[B"
    } ],
    "default" : null
  }, {
    "name" : "flagsAsByte",
    "type" : {
      "type" : "int",
      "java-class" : "java.lang.Byte"
    }
  }, {
    "name" : "traceContext",
    "type" : [ "null", {
      "type" : "bytes",
      "java-class" : "[B"
    } ],
    "default" : null
  }, {
    "name" : "appenderThread",
    "type" : [ "null", "string" ],
    "default" : null
  } ]
}
`;

/** Their CRC-64-AVRO fingerprints (the single-object header carries them little-endian). */
export const RECORD_FINGERPRINT_2023 = 0x5d82f1387f01c58bn;
export const RECORD_FINGERPRINT_2021 = 0x0ee727be73e8d498n;

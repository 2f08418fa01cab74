// A strict JSON parser that keeps integers exact, and a string writer that matches Jackson.
//
// Why not JSON.parse: Avro `long` values (Nuxeo watermarks are about 2^57) and long schema
// defaults lose precision as doubles, and Node 20 has no JSON.parse source-text access. Integer
// literals outside the safe range therefore come back as bigint; everything else as JSON.parse
// would return it. Objects have a null prototype so a key like `__proto__` stays an own key.

/** Why parsing failed; `eof` tells a truncated text from a malformed one. */
export class JsonSyntaxError extends Error {
  override readonly name = "JsonSyntaxError";
  constructor(
    message: string,
    readonly eof: boolean,
  ) {
    super(message);
  }
}

export type ExactJson =
  null | boolean | number | bigint | string | ExactJson[] | { [key: string]: ExactJson };

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

export function parseExactJson(text: string): ExactJson {
  let pos = 0;

  const fail = (what: string): never => {
    if (pos >= text.length) throw new JsonSyntaxError(`JSON ends early: expected ${what}`, true);
    throw new JsonSyntaxError(`invalid JSON at offset ${pos}: expected ${what}`, false);
  };
  const skipWhite = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      pos++;
    }
  };
  const expect = (literal: string, value: ExactJson): ExactJson => {
    for (let i = 0; i < literal.length; i++) {
      if (text.charCodeAt(pos) !== literal.charCodeAt(i)) fail(literal);
      pos++;
    }
    return value;
  };

  const parseString = (): string => {
    pos++; // opening quote
    let out = "";
    let start = pos;
    while (true) {
      if (pos >= text.length) fail("closing quote");
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail("no raw control character in a string");
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      pos++;
      if (pos >= text.length) fail("an escape");
      const e = text[pos++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case "\\":
          out += "\\";
          break;
        case "/":
          out += "/";
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = text.slice(pos, pos + 4);
          if (hex.length < 4) pos = text.length;
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("four hex digits after \\u");
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          pos--;
          fail("a valid escape");
      }
      start = pos;
    }
  };

  const parseNumber = (): number | bigint => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) return fail("a number");
    const literal = m[0];
    pos += literal.length;
    if (pos >= text.length && /[-.eE+]$/.test(literal)) fail("digits");
    const n = Number(literal);
    if (INTEGER.test(literal) && !Number.isSafeInteger(n)) return BigInt(literal);
    return n;
  };

  const parseValue = (depth: number): ExactJson => {
    if (depth > 512) fail("less nesting");
    skipWhite();
    if (pos >= text.length) fail("a value");
    const c = text[pos];
    switch (c) {
      case "{": {
        pos++;
        const obj = Object.create(null) as { [key: string]: ExactJson };
        skipWhite();
        if (text[pos] === "}") {
          pos++;
          return obj;
        }
        while (true) {
          skipWhite();
          if (text[pos] !== '"') fail("a key");
          const key = parseString();
          skipWhite();
          if (text[pos] !== ":") fail("':'");
          pos++;
          obj[key] = parseValue(depth + 1);
          skipWhite();
          if (text[pos] === ",") {
            pos++;
            continue;
          }
          if (text[pos] === "}") {
            pos++;
            return obj;
          }
          fail("',' or '}'");
        }
      }
      case "[": {
        pos++;
        const arr: ExactJson[] = [];
        skipWhite();
        if (text[pos] === "]") {
          pos++;
          return arr;
        }
        while (true) {
          arr.push(parseValue(depth + 1));
          skipWhite();
          if (text[pos] === ",") {
            pos++;
            continue;
          }
          if (text[pos] === "]") {
            pos++;
            return arr;
          }
          fail("',' or ']'");
        }
      }
      case '"':
        return parseString();
      case "t":
        return expect("true", true);
      case "f":
        return expect("false", false);
      case "n":
        return expect("null", null);
      default:
        return parseNumber();
    }
  };

  const value = parseValue(0);
  skipWhite();
  if (pos < text.length) fail("the end of the text");
  return value;
}

export function isJsonObject(v: unknown): v is { [key: string]: ExactJson } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * A JSON string literal exactly as Jackson writes it: `"` and `\` escaped, \b \t \n \f \r short,
 * other control characters as `\u00XX` with upper-case hex, everything else (including `/`, DEL
 * and non-ASCII) raw. JSON.stringify differs only in the case of the hex digits.
 */
export function jacksonString(s: string): string {
  const json = JSON.stringify(s);
  // Fast path: nothing written as \u, which is the case for almost every audit string.
  if (!json.includes("\\u")) return json;
  // Match `\\` pairs as units so that an escaped backslash followed by `u00ab` stays untouched.
  return json.replace(/\\\\|\\u[0-9a-f]{4}/g, (m) =>
    m.length === 2 ? m : "\\u" + m.slice(2).toUpperCase(),
  );
}

// A subset of NXQL, enough for the queries drivecast makes (spec/NUXEO.md §2) and a few more a test
// may want: SELECT … FROM <types> WHERE <condition> [AND <condition>]… [ORDER BY …].
// Anything else is a NxqlSyntaxError, which the REST layer answers with 400 like Nuxeo's
// QueryParseException.
import { NxqlSyntaxError } from "./errors.js";
import type { DocState } from "./repository.js";

type Value = string | number | boolean;

interface Condition {
  field: string;
  op: "=" | "!=" | "IN" | "NOT IN" | "STARTSWITH" | "<" | ">" | "<=" | ">=" | "LIKE";
  values: Value[];
}

export interface CompiledQuery {
  /** `null` for `Document` (any type). */
  types: Set<string> | null;
  conditions: Condition[];
  orderBy: { field: string; desc: boolean }[];
}

interface Token {
  kind: "word" | "string" | "number" | "punct";
  text: string;
}

function tokenize(query: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      // NXQL strings: backslash escapes, and a doubled quote stands for one.
      let s = "";
      i++;
      for (;;) {
        if (i >= query.length) throw new NxqlSyntaxError(query, "unterminated string");
        const d = query[i] as string;
        if (d === "\\" && i + 1 < query.length) {
          s += query[i + 1];
          i += 2;
        } else if (d === c) {
          if (query[i + 1] === c) {
            s += c;
            i += 2;
          } else {
            i++;
            break;
          }
        } else {
          s += d;
          i++;
        }
      }
      out.push({ kind: "string", text: s });
    } else if (/[0-9]/.test(c) || (c === "-" && /[0-9]/.test(query[i + 1] ?? ""))) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(query.slice(i)) as RegExpExecArray;
      out.push({ kind: "number", text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_:/*.]*/.exec(query.slice(i)) as RegExpExecArray;
      out.push({ kind: "word", text: m[0] });
      i += m[0].length;
    } else {
      const two = query.slice(i, i + 2);
      if (two === "!=" || two === "<>" || two === "<=" || two === ">=") {
        out.push({ kind: "punct", text: two === "<>" ? "!=" : two });
        i += 2;
      } else if ("=<>(),*".includes(c)) {
        out.push({ kind: "punct", text: c });
        i++;
      } else {
        throw new NxqlSyntaxError(query, `unexpected character ${JSON.stringify(c)}`);
      }
    }
  }
  return out;
}

const KNOWN_FIELDS = new Set([
  "ecm:uuid",
  "ecm:parentId",
  "ecm:ancestorId",
  "ecm:path",
  "ecm:name",
  "ecm:mixinType",
  "ecm:primaryType",
  "ecm:isTrashed",
  "ecm:isVersion",
  "ecm:isCheckedInVersion",
  "ecm:isProxy",
  "ecm:currentLifeCycleState",
  "ecm:repository",
  "dc:title",
  "dc:creator",
  "dc:created",
  "dc:modified",
]);

const SUBSCRIPTION_FIELD = /^drv:subscriptions\/\*([0-9]*)\/(username|enabled)$/;

export function parseNxql(query: string): CompiledQuery {
  const tokens = tokenize(query);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isWord = (t: Token | undefined, w: string) =>
    t !== undefined && t.kind === "word" && t.text.toUpperCase() === w;
  const expectWord = (w: string) => {
    if (!isWord(peek(), w)) throw new NxqlSyntaxError(query, `expected ${w} at token ${pos + 1}`);
    pos++;
  };
  const fail = (what: string): never => {
    throw new NxqlSyntaxError(query, what);
  };

  expectWord("SELECT");
  // Projection: `*` or a field list; the simulator always answers with documents.
  while (peek() !== undefined && !isWord(peek(), "FROM")) pos++;
  expectWord("FROM");
  const types = new Set<string>();
  for (;;) {
    const t = peek();
    if (t === undefined || t.kind !== "word") fail("expected a document type after FROM");
    types.add((t as Token).text);
    pos++;
    if (peek()?.text === ",") pos++;
    else break;
  }
  const conditions: Condition[] = [];
  if (isWord(peek(), "WHERE")) {
    pos++;
    for (;;) {
      conditions.push(parseCondition());
      if (isWord(peek(), "AND")) {
        pos++;
        continue;
      }
      break;
    }
  }
  const orderBy: { field: string; desc: boolean }[] = [];
  if (isWord(peek(), "ORDER")) {
    pos++;
    expectWord("BY");
    for (;;) {
      const f = peek();
      if (f === undefined || f.kind !== "word") fail("expected a field after ORDER BY");
      pos++;
      let desc = false;
      if (isWord(peek(), "DESC")) {
        desc = true;
        pos++;
      } else if (isWord(peek(), "ASC")) pos++;
      orderBy.push({ field: (f as Token).text, desc });
      if (peek()?.text === ",") pos++;
      else break;
    }
  }
  if (pos < tokens.length) fail(`unexpected ${JSON.stringify(tokens[pos]?.text)}`);
  return { types: types.has("Document") ? null : types, conditions, orderBy };

  function parseValue(): Value {
    const t = peek();
    if (t === undefined) return fail("expected a value");
    pos++;
    if (t.kind === "string") return t.text;
    if (t.kind === "number") return Number(t.text);
    if (t.kind === "word" && (t.text.toUpperCase() === "TRUE" || t.text.toUpperCase() === "FALSE"))
      return t.text.toUpperCase() === "TRUE";
    return fail(`expected a value, got ${JSON.stringify(t.text)}`);
  }

  function parseCondition(): Condition {
    const f = peek();
    if (f === undefined || f.kind !== "word") return fail("expected a field");
    if (f.text.toUpperCase() === "OR" || f.text === "(")
      fail("OR and parentheses are not supported");
    if (!KNOWN_FIELDS.has(f.text) && !SUBSCRIPTION_FIELD.test(f.text))
      fail(`unknown field ${f.text}`);
    pos++;
    const t = peek();
    if (t === undefined) return fail("expected an operator");
    let op: Condition["op"];
    if (t.kind === "punct" && ["=", "!=", "<", ">", "<=", ">="].includes(t.text)) {
      op = t.text as Condition["op"];
      pos++;
    } else if (isWord(t, "IN")) {
      op = "IN";
      pos++;
    } else if (isWord(t, "NOT") && isWord(tokens[pos + 1], "IN")) {
      op = "NOT IN";
      pos += 2;
    } else if (isWord(t, "STARTSWITH")) {
      op = "STARTSWITH";
      pos++;
    } else if (isWord(t, "LIKE")) {
      op = "LIKE";
      pos++;
    } else {
      return fail(`unsupported operator ${JSON.stringify(t.text)}`);
    }
    const values: Value[] = [];
    if (op === "IN" || op === "NOT IN") {
      if (peek()?.text !== "(") fail("expected ( after IN");
      pos++;
      for (;;) {
        values.push(parseValue());
        const sep = peek();
        pos++;
        if (sep?.text === ",") continue;
        if (sep?.text === ")") break;
        fail("expected , or ) in an IN list");
      }
    } else {
      values.push(parseValue());
    }
    return { field: f.text, op, values };
  }
}

function fieldValue(doc: DocState, field: string, ancestors: () => DocState[]): Value | Value[] {
  switch (field) {
    case "ecm:uuid":
      return doc.uid;
    case "ecm:parentId":
      return doc.parentUid ?? "";
    case "ecm:ancestorId":
      return ancestors().map((a) => a.uid);
    case "ecm:path":
      return doc.path;
    case "ecm:name":
      return doc.name;
    case "ecm:mixinType":
      return doc.facets;
    case "ecm:primaryType":
      return doc.type;
    case "ecm:isTrashed":
      return doc.isTrashed;
    case "ecm:isVersion":
    case "ecm:isCheckedInVersion":
      return doc.isVersion;
    case "ecm:isProxy":
      return doc.isProxy;
    case "ecm:currentLifeCycleState":
      return doc.state;
    case "ecm:repository":
      return doc.repository;
    case "dc:title":
      return doc.title;
    case "dc:creator":
      return doc.creator;
    case "dc:created":
      return new Date(doc.created).toISOString();
    case "dc:modified":
      return new Date(doc.modified).toISOString();
    default:
      return "";
  }
}

function same(a: Value, b: Value): boolean {
  // NXQL booleans compare with 0/1.
  if (typeof a === "boolean") return a === (b === true || b === 1 || b === "1" || b === "true");
  return a === b || String(a) === String(b);
}

function compare(a: Value, b: Value): number {
  const x = typeof a === "boolean" ? Number(a) : a;
  const y = typeof b === "boolean" ? Number(b) : b;
  return x < y ? -1 : x > y ? 1 : 0;
}

function likeToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replace(/%/g, ".*")
    .replace(/_/g, ".");
  return new RegExp(`^${escaped}$`);
}

function test(cond: Condition, value: Value | Value[]): boolean {
  if (Array.isArray(value)) {
    // Multi-valued fields (facets, ancestors): `=`/`IN` match any element, `!=`/`NOT IN` none.
    switch (cond.op) {
      case "=":
      case "IN":
        return value.some((v) => cond.values.some((c) => same(v, c)));
      case "!=":
      case "NOT IN":
        return !value.some((v) => cond.values.some((c) => same(v, c)));
      default:
        return false;
    }
  }
  const c0 = cond.values[0] as Value;
  switch (cond.op) {
    case "=":
      return same(value, c0);
    case "!=":
      return !same(value, c0);
    case "IN":
      return cond.values.some((c) => same(value, c));
    case "NOT IN":
      return !cond.values.some((c) => same(value, c));
    case "STARTSWITH": {
      // Nuxeo's STARTSWITH on ecm:path matches strictly below the given path.
      const prefix = String(c0).endsWith("/") ? String(c0) : `${String(c0)}/`;
      return String(value).startsWith(prefix);
    }
    case "LIKE":
      return likeToRegExp(String(c0)).test(String(value));
    case "<":
      return compare(value, c0) < 0;
    case ">":
      return compare(value, c0) > 0;
    case "<=":
      return compare(value, c0) <= 0;
    case ">=":
      return compare(value, c0) >= 0;
  }
}

/**
 * A predicate over documents. `ancestorsOf` is only called for `ecm:ancestorId`. Conditions on
 * `drv:subscriptions/*N/…` with the same N must hold on one subscription entry (NXQL correlated
 * wildcards); plain `*` conditions each match any entry.
 */
export function matcher(
  q: CompiledQuery,
  ancestorsOf: (doc: DocState) => DocState[],
): (doc: DocState) => boolean {
  const plain: Condition[] = [];
  const correlated = new Map<string, Condition[]>();
  for (const c of q.conditions) {
    const m = SUBSCRIPTION_FIELD.exec(c.field);
    if (m === null) plain.push(c);
    else {
      const key = m[1] === "" ? `#${correlated.size}` : (m[1] as string);
      const list = correlated.get(key) ?? [];
      list.push({ ...c, field: m[2] as string });
      correlated.set(key, list);
    }
  }
  return (doc) => {
    if (doc.parentUid === null) return false; // the repository root is not a search result
    if (q.types !== null && !q.types.has(doc.type)) return false;
    let anc: DocState[] | undefined;
    const ancestors = () => (anc ??= ancestorsOf(doc));
    for (const c of plain) if (!test(c, fieldValue(doc, c.field, ancestors))) return false;
    for (const conds of correlated.values()) {
      const ok = doc.subscriptions.some((s) =>
        conds.every((c) => test(c, c.field === "username" ? s.username : s.enabled)),
      );
      if (!ok) return false;
    }
    return true;
  };
}

/**
 * The uids of the documents a query can match at most, from its indexed conditions
 * (`ecm:uuid =`/`IN`, `ecm:parentId =`, `ecm:ancestorId =`: the smallest of them), or null when
 * it has none. `childrenOf` and `descendantsOf` answer with uids (empty for an unknown one). Nuxeo
 * answers such conditions from indexes; without this, each query (each page of a scroll's
 * listing, each batched snapshot fetch) scanned the whole repository.
 */
export function indexedCandidates(
  q: CompiledQuery,
  childrenOf: (uid: string) => readonly string[],
  descendantsOf: (uid: string) => readonly string[],
): Set<string> | null {
  let best: Set<string> | null = null;
  for (const c of q.conditions) {
    let uids: readonly string[] | null = null;
    if (c.field === "ecm:uuid" && (c.op === "=" || c.op === "IN")) uids = c.values.map(String);
    else if (c.field === "ecm:parentId" && c.op === "=") uids = childrenOf(String(c.values[0]));
    else if (c.field === "ecm:ancestorId" && c.op === "=")
      uids = descendantsOf(String(c.values[0]));
    if (uids !== null && (best === null || uids.length < best.size)) best = new Set(uids);
  }
  return best;
}

export function sorter(q: CompiledQuery): ((a: DocState, b: DocState) => number) | null {
  if (q.orderBy.length === 0) return null;
  return (a, b) => {
    for (const o of q.orderBy) {
      const x = fieldValue(a, o.field, () => []);
      const y = fieldValue(b, o.field, () => []);
      const c = compare(String(x), String(y));
      if (c !== 0) return o.desc ? -c : c;
    }
    return 0;
  };
}

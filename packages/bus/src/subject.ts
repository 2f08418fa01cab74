// NATS subject matching, for the in-memory bus: tokens separated by `.`, `*` matches exactly one
// token, `>` (last token only) matches one or more trailing tokens.

/** True when `subject` (a literal subject) matches `pattern` (which may contain wildcards). */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/** True when `subject` is a valid literal subject (no wildcards, no empty tokens, no spaces). */
export function isLiteralSubject(subject: string): boolean {
  if (subject.length === 0 || /\s/.test(subject)) return false;
  for (const token of subject.split(".")) {
    if (token.length === 0 || token === "*" || token === ">") return false;
  }
  return true;
}

/** True when `pattern` is a valid subscription subject (wildcards allowed, `>` last only). */
export function isSubjectPattern(pattern: string): boolean {
  if (pattern.length === 0 || /\s/.test(pattern)) return false;
  const tokens = pattern.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.length === 0) return false;
    if (token === ">" && i !== tokens.length - 1) return false;
  }
  return true;
}

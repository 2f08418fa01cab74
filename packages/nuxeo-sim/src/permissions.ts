// Nuxeo's default permission model (spec/NUXEO.md §3), as the simulator evaluates it. The table is
// Nuxeo's default `permissions` contribution: a compound permission includes its sub-permissions,
// transitively; `Everything` includes all.

const INCLUDES: Readonly<Record<string, readonly string[]>> = {
  ReadWrite: ["Read", "Write"],
  Read: [
    "Browse",
    "ReadVersion",
    "ReadProperties",
    "ReadChildren",
    "ReadLifeCycle",
    "ReadSecurity",
    "ReviewParticipant",
  ],
  ReadProperties: ["Browse"],
  Write: [
    "AddChildren",
    "WriteProperties",
    "Remove",
    "ManageWorkflows",
    "WriteLifeCycle",
    "WriteVersion",
  ],
  WriteVersion: ["WriteProperties"],
  Remove: ["RemoveChildren", "WriteLifeCycle"],
  ReadRemove: ["Read", "Remove"],
  Version: ["ReadVersion", "WriteVersion"],
};

export const EVERYONE = "Everyone";
export const EVERYTHING = "Everything";

const closure = new Map<string, ReadonlySet<string>>();

function expand(permission: string): ReadonlySet<string> {
  const cached = closure.get(permission);
  if (cached !== undefined) return cached;
  const out = new Set<string>([permission]);
  const stack = [permission];
  while (stack.length > 0) {
    const p = stack.pop() as string;
    for (const sub of INCLUDES[p] ?? []) {
      if (!out.has(sub)) {
        out.add(sub);
        stack.push(sub);
      }
    }
  }
  closure.set(permission, out);
  return out;
}

/** Does an ACE granting/denying `held` decide a check of `wanted`? */
export function includesPermission(held: string, wanted: string): boolean {
  return held === EVERYTHING || expand(held).has(wanted);
}

export interface EvaluatedAce {
  username: string;
  permission: string;
  granted: boolean;
  status: string;
}

/**
 * Nuxeo's evaluation: the first effective ACE whose principal is one of the user's and whose
 * permission includes the wanted one decides; no such ACE means no.
 */
export function evaluate(
  principals: ReadonlySet<string>,
  wanted: string,
  aces: Iterable<EvaluatedAce>,
): boolean {
  for (const ace of aces) {
    if (ace.status !== "effective") continue;
    if (!principals.has(ace.username)) continue;
    if (!includesPermission(ace.permission, wanted)) continue;
    return ace.granted;
  }
  return false;
}

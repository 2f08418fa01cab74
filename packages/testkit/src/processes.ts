// Child processes and temp dirs that must not outlive the test process.
//
// Two layers, because either alone leaves orphans:
// - an `exit` handler kills the children and removes the dirs synchronously when the test process
//   ends normally (vitest workers finishing, process.exit);
// - a tiny watchdog process holds the write end of a pipe from us. A test process that is killed
//   (SIGKILL on a timeout, a crash, Ctrl-C) runs no handler, but the kernel closes the pipe, the
//   watchdog reads end-of-file and kills what we registered. It ignores SIGINT/SIGTERM/SIGHUP so
//   a Ctrl-C that reaches the whole process group does not take it down before its job is done.

import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

const WATCHDOG = `
const pids = new Set(), dirs = new Set(); let buf = "";
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(s, () => {});
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  buf += d; let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const [op, kind, value] = [line[0], line[1], line.slice(3)];
    const set = kind === "p" ? pids : dirs;
    if (op === "+") set.add(value); else set.delete(value);
  }
});
process.stdin.on("end", () => {
  for (const p of pids) { try { process.kill(Number(p), "SIGKILL"); } catch {} }
  for (const d of dirs) { try { require("fs").rmSync(d, { recursive: true, force: true, maxRetries: 5 }); } catch {} }
  process.exit(0);
});
`;

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let watchdog: ChildProcess | undefined;
let exitHookInstalled = false;

function tell(line: string): void {
  if (watchdog === undefined) {
    watchdog = spawn(process.execPath, ["-e", WATCHDOG], { stdio: ["pipe", "ignore", "ignore"] });
    // Neither the watchdog nor its pipe may keep the test process alive.
    watchdog.unref();
    const stdin = watchdog.stdin as unknown as { unref?: () => void } | null;
    stdin?.unref?.();
    watchdog.stdin?.on("error", () => {
      // The watchdog died (somebody killed it): the exit hook still cleans up on a normal exit.
    });
  }
  watchdog.stdin?.write(line + "\n");
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of children) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Kill `child` when this process ends, however it ends. */
export function trackChild(child: ChildProcess): void {
  installExitHook();
  const pid = child.pid;
  if (pid === undefined) return;
  children.add(child);
  tell(`+p ${pid}`);
  child.once("exit", () => {
    children.delete(child);
    tell(`-p ${pid}`);
  });
}

/** Remove `dir` when this process ends, unless `untrackDir` is called first. */
export function trackDir(dir: string): void {
  installExitHook();
  dirs.add(dir);
  tell(`+d ${dir}`);
}

export function untrackDir(dir: string): void {
  dirs.delete(dir);
  tell(`-d ${dir}`);
}

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve();
    }, graceMs);
  });
  await Promise.race([exited(child), forced]);
  clearTimeout(timer);
  await exited(child);
}

export interface RunResult {
  code: number | null;
  output: string;
}

/**
 * Runs a command to completion, collecting stdout and stderr together (the last 64 KiB: enough
 * for an error message, bounded for a chatty build). Rejects with the spawn error (ENOENT when
 * the command is not installed).
 */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (output.length > 65_536) output = output.slice(-65_536);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

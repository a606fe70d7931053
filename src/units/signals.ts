// Linux signal names and numbers (x86/arm generic numbering). The unit stores
// the name; whoever sends the signal through containerd needs the number.

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7,
  SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14,
  SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21,
  SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

export type SignalParse = { ok: true; value: string } | { ok: false; message: string };

/** "TERM" / "SIGTERM" / "SIGRTMIN+3" → canonical "SIG…" name. */
export function normalizeSignal(name: string): SignalParse {
  const full = name.startsWith('SIG') ? name : `SIG${name}`;
  if (signalNumber(full) === undefined) {
    return { ok: false, message: `unknown signal ${JSON.stringify(name)} (expected a name like "SIGTERM" or "SIGRTMIN+3")` };
  }
  return { ok: true, value: full };
}

/** Signal number for a canonical name, or undefined. systemd images use SIGRTMIN+3 as their stop signal. */
export function signalNumber(name: string): number | undefined {
  const plain = SIGNALS[name];
  if (plain !== undefined && Object.hasOwn(SIGNALS, name)) return plain;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(name);
  if (rt === null) return undefined;
  const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
  const offset = rt[3] === undefined ? 0 : Number(rt[3]);
  if ((rt[1] === 'MIN' && rt[2] === '-') || (rt[1] === 'MAX' && rt[2] === '+')) return undefined;
  const n = rt[2] === '-' ? base - offset : base + offset;
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
}

/** The signal to stop a unit with: the unit's, else the image's, else SIGTERM. */
export function effectiveStopSignal(unitSignal: string | undefined, imageStopSignal: string | undefined): string {
  if (unitSignal !== undefined) return unitSignal;
  if (imageStopSignal !== undefined) {
    const parsed = normalizeSignal(imageStopSignal);
    if (parsed.ok) return parsed.value;
  }
  return 'SIGTERM';
}

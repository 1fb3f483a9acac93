import { performance } from 'node:perf_hooks';
import { createContext, Script } from 'node:vm';
import safeRegex from 'safe-regex2';

/**
 * Which nodes a control request addresses, by kombu's rule (kombu/pidbox.py): a non-empty
 * `destination` list names them; otherwise a `pattern` with a `matcher` selects them ('glob':
 * fnmatch; 'pcre': a regular expression matched at the start of the node name, as re.match);
 * otherwise every node. Values come from any publisher on the broker, so the cost of a
 * pattern is bounded here: every pattern by its length, a pcre one also by matchPcre's checks
 * and by a PcreBudget shared by all requests.
 */
export interface Addressing {
  /** Node names; null or empty = not by name. */
  destination: readonly string[] | null;
  pattern: string | null;
  matcher: 'glob' | 'pcre' | null;
}

/** Longest pattern accepted (glob or pcre); node names are short, and a pattern's cost grows with its length. */
export const MAX_PATTERN_LENGTH = 256;
/** Most quantifiers a pcre pattern may hold (safe-regex2's `limit`); backtracking grows as the hostname's length to this power. */
const MAX_PATTERN_REPETITIONS = 5;
/** How long one pcre match may run before it counts as not matching. */
const PCRE_MATCH_TIMEOUT_MS = 20;
/** Tries of a match that timed out while the process got little CPU (see judgePcre). */
const STARVED_ATTEMPTS = 5;

/** Most time spent judging pcre patterns not judged before, per second, by default. */
export const PCRE_BUDGET_MS_PER_SECOND = 100;

/** Thrown for a pcre pattern not judged before once its PcreBudget is spent: the request is dropped unjudged. */
export class PcreBudgetSpentError extends Error {
  constructor(readonly budgetMs: number) {
    super(`pcre matching time spent (${budgetMs} ms per second): pattern-addressed messages are dropped until it renews`);
    this.name = 'PcreBudgetSpentError';
  }
}

/**
 * The pcre matching time a node grants per second. Each new pattern may cost up to
 * PCRE_MATCH_TIMEOUT_MS of synchronous time, so a flood of distinct patterns that pass the
 * static check would otherwise hold the event loop (and the broker heartbeats) for as long as
 * the flood lasts; with the budget, at most `msPerSecond` (plus one match) a second goes to them,
 * and the rest are refused with PcreBudgetSpentError. Cached verdicts cost nothing and are
 * always answered.
 */
export class PcreBudget {
  #windowStart = -Infinity;
  #spentMs = 0;

  constructor(
    readonly msPerSecond = PCRE_BUDGET_MS_PER_SECOND,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Throws PcreBudgetSpentError when this second's time is spent. */
  check(): void {
    const now = this.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#spentMs = 0;
    }
    if (this.#spentMs >= this.msPerSecond) throw new PcreBudgetSpentError(this.msPerSecond);
  }

  charge(ms: number): void {
    this.#spentMs += ms;
  }
}

/**
 * Whether the request addresses `hostname`; throws an Error saying why when its pattern is
 * refused (a PcreBudgetSpentError when `budget` is spent). Without a budget, pcre time is unbounded.
 */
export function isAddressedTo(addressing: Addressing, hostname: string, budget?: PcreBudget): boolean {
  const { destination, pattern, matcher } = addressing;
  if (destination && destination.length > 0) return destination.includes(hostname);
  if (pattern && matcher) {
    if (matcher === 'pcre') return matchPcre(pattern, hostname, budget);
    refuseLongPattern('glob', pattern);
    return globMatches(pattern, hostname);
  }
  return true;
}

function refuseLongPattern(matcher: 'glob' | 'pcre', pattern: string): void {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`${matcher} pattern longer than ${MAX_PATTERN_LENGTH} characters`);
}

/**
 * fnmatch: `*` any run, `?` any one character, `[seq]` / `[!seq]` (ranges a-z) a set; anything
 * else itself; the whole name must match. Matched by the greedy two-pointer walk that resumes
 * from the last `*`, not by a RegExp: time is at most |pattern| × |name|, whatever the pattern.
 */
export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starN = n;
      continue;
    }
    const step = p < pattern.length ? matchOne(pattern, p, name[n]) : 0;
    if (step > 0) {
      p += step;
      n += 1;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** How many pattern characters match `char` at `p` (0: no match). */
function matchOne(pattern: string, p: number, char: string): number {
  const token = pattern[p];
  if (token === '?') return 1;
  if (token !== '[') return token === char ? 1 : 0;
  // A set; without a closing ']' the '[' is itself (as fnmatch).
  let i = p + 1;
  const negated = pattern[i] === '!';
  if (negated) i++;
  const start = i;
  let found = false;
  for (; i < pattern.length && (pattern[i] !== ']' || i === start); i++) {
    if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
      if (pattern[i] <= char && char <= pattern[i + 2]) found = true;
      i += 2;
    } else if (pattern[i] === char) found = true;
  }
  if (i >= pattern.length) return char === '[' ? 1 : 0;
  return found !== negated ? i + 1 - p : 0;
}

const sandbox = createContext({ pattern: '', hostname: '' });
const matchScript = new Script('new RegExp(pattern, "y").test(hostname)');
/** Verdicts by hostname and pattern: matched or not, or why refused. */
const verdicts = new Map<string, boolean | string>();
const VERDICTS_KEPT = 256;

/**
 * A pcre pattern matched at the start of `hostname`. JavaScript's RegExp backtracks, so a
 * pattern such as `(.*.*)*!` would hold the event loop for minutes. Three bounds, each for what
 * the one before lets through:
 * - a length cap (MAX_PATTERN_LENGTH);
 * - safe-regex2, a static check that refuses nested quantifiers (star height above 1) and more
 *   than MAX_PATTERN_REPETITIONS quantifiers: the usual catastrophic shapes, refused with a reason;
 * - the match itself runs in a vm context with a timeout (PCRE_MATCH_TIMEOUT_MS), which V8
 *   interrupts even inside a RegExp: shapes the static check misses (`(a|a)*b`) cost at most
 *   that, and the pattern is then refused. Verdicts are remembered per pattern (a few hundred),
 *   so a flood of one bad pattern costs one timeout;
 * - a flood of distinct patterns is bounded by `budget` (PcreBudget): time spent judging new
 *   patterns per second, past which they are refused unjudged.
 * A linear-time engine (RE2) would need a native module; these bounds need none.
 */
export function matchPcre(pattern: string, hostname: string, budget?: PcreBudget): boolean {
  refuseLongPattern('pcre', pattern);
  const key = `${hostname}\u0000${pattern}`;
  let verdict = verdicts.get(key);
  if (verdict === undefined) {
    budget?.check();
    const started = performance.now();
    verdict = judgePcre(pattern, hostname);
    budget?.charge(performance.now() - started);
    if (verdicts.size >= VERDICTS_KEPT) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(key, verdict);
  }
  if (typeof verdict === 'string') throw new Error(verdict);
  return verdict;
}

/** Whether the pattern matches, or why it is refused. */
function judgePcre(pattern: string, hostname: string): boolean | string {
  try {
    new RegExp(pattern);
  } catch (error) {
    return `invalid pcre pattern: ${(error as Error).message}`;
  }
  if (!safeRegex(pattern, { limit: MAX_PATTERN_REPETITIONS })) {
    return (
      `pcre pattern refused: nested quantifiers, more than ${MAX_PATTERN_REPETITIONS} of them, ` +
      'or syntax the static check does not read (its backtracking could hold the worker)'
    );
  }
  sandbox.pattern = pattern;
  sandbox.hostname = hostname;
  // V8's timeout is wall-clock: on a machine busy enough to leave this thread without a core, a
  // trivial match can time out without having run. A timeout that cost the process little CPU
  // (under half the limit) is such a starved attempt, and is tried again, a few times at most.
  for (let attempt = 1; ; attempt++) {
    const cpuBefore = process.cpuUsage();
    try {
      return matchScript.runInContext(sandbox, { timeout: PCRE_MATCH_TIMEOUT_MS }) === true;
    } catch {
      const cpu = process.cpuUsage(cpuBefore);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      if (cpuMs >= PCRE_MATCH_TIMEOUT_MS / 2 || attempt >= STARVED_ATTEMPTS) {
        return `pcre pattern refused: matching it took over ${PCRE_MATCH_TIMEOUT_MS} ms`;
      }
    }
  }
}

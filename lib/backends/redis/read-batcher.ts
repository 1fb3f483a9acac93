/** Keys per MGET at most: a reply of this many results stays a few hundred KB. */
export const MAX_KEYS_PER_READ = 1000;

interface Read {
  key: string;
  resolve: (value: string | null) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces the key reads of one turn of the event loop into MGETs of at most MAX_KEYS_PER_READ
 * keys. A burst of reads is what a large group's `get()` makes — one GET per member once its
 * subscription is in place, 100,000 for a group of 100,000 — and each GET on its own costs the
 * client a command object, a reply to parse and a timer for its reply timeout: at that count
 * the last of them waited past the command timeout, which failed the whole group, where a
 * hundred MGETs take a fraction of the time. A lone read is still one GET, sent as before.
 *
 * Reads are collected until the process's next tick (so every read issued by the promise
 * continuations of one burst goes together) and then issued in call order. Invariant: each read
 * settles with the value of its own key, or with the error of the one command that carried it.
 */
export class ReadBatcher {
  private pending: Read[] = [];

  constructor(
    private readonly readOne: (key: string) => Promise<string | null>,
    private readonly readMany: (keys: string[]) => Promise<Array<string | null>>,
  ) {}

  get(key: string): Promise<string | null> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) process.nextTick(() => this.flush());
      this.pending.push({ key, resolve, reject });
    });
  }

  private flush(): void {
    const reads = this.pending;
    this.pending = [];
    for (let start = 0; start < reads.length; start += MAX_KEYS_PER_READ) {
      const part = reads.slice(start, start + MAX_KEYS_PER_READ);
      if (part.length === 1) {
        const [read] = part;
        this.readOne(read.key).then(read.resolve, read.reject);
        continue;
      }
      this.readMany(part.map((read) => read.key)).then(
        (values) => part.forEach((read, i) => read.resolve(values[i] ?? null)),
        (err: unknown) => part.forEach((read) => read.reject(err)),
      );
    }
  }
}

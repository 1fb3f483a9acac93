/**
 * The producer skeleton of the floors (raw-producer.ts, raw-redis-producer.ts): raw amqplib, no
 * framework. A variant says how a task's message is made and where its answer (a reply, a
 * result) comes from; the skeleton does the rest, the same for every floor:
 *
 * - task messages published on one confirm channel of its own connection, with pipelined
 *   confirms (pipelined-publish.ts), in batches;
 * - a batch resolves when all its messages are confirmed and, when tasks are answered, all their
 *   answers arrived; an answer for a task not awaited, or a failure the variant reports, fails
 *   the run;
 * - before 'go', `warmup` tasks go the same way (celeriac's producer does the same), so neither
 *   side is timed while still cold;
 * - after 'go', N tasks in one batch (latency per task = publish call → its answer arrived, both
 *   taken here; finished at the last answer, or the last confirm when tasks are not answered),
 *   or `oneAtATime`: publish, await its confirm and answer, then the next (the floor of a single
 *   round trip at low load);
 * - after 'stop', the publishing connection closed, then the variant's (`close`).
 */
import { connect } from 'amqplib';
import type { Child } from './child-runtime.js';
import { now } from './ipc.js';
import { summarizeLatency } from './measure.js';
import { publishPipelined, type FloorMessage } from './pipelined-publish.js';

export interface FloorProducerSettings {
  amqpUrl: string;
  queue: string;
  n: number;
  /** Tasks sent (and answered) before 'go', not measured: the consumer expects n + warmup. */
  warmup: number;
  /** What answers a task; absent: nothing does (publish-only), finished at the last confirm. */
  answer?: AnswerKind;
  /**
   * One round trip at a time instead of one batch of N (the warm-up too): each task a batch of
   * one, so each is sent with the value of index 0.
   */
  oneAtATime: boolean;
}

/** What answers a task: 'reply' (rpc-style reply queue) or 'result' (a stored result); in error and progress texts. */
export type AnswerKind = 'reply' | 'result';

/** Handed to a variant's answer source: where an answer arrives. */
export interface Answers {
  /**
   * The answer of task `id` arrived at `at`; `check.ok(value)`, given the value the task was
   * sent with, says whether the answer is right (a wrong one fails the run, `check.ended` saying
   * how the task ended).
   */
  arrived(id: string, at: number, check?: { ok: (value: number) => boolean; ended: string }): void;
  failed(error: Error): void;
}

/** What a floor producer variant says. */
export interface FloorProducerVariant {
  /** The message of a task sent with `value` (warm-up: `warmupValue(i)`, measured: i). */
  message(value: number): FloorMessage;
  /** The value of the i-th warm-up task; default i. */
  warmupValue?: (i: number) => number;
  /** After 'stop' and the publishing connection closed: closes what `open` opened. */
  close(): Promise<void> | void;
}

interface Batch {
  status: () => string;
  done: Promise<{ confirmedAt: number; finishedAt: number }>;
}

/**
 * Runs the floor producer in `child`: `open(answers)` makes the variant once the publishing
 * channel is set up, and subscribes to the answers, if any, reporting each to `answers`.
 */
export async function runFloorProducer(
  child: Child<unknown>,
  settings: FloorProducerSettings,
  open: (answers: Answers) => Promise<FloorProducerVariant>,
): Promise<void> {
  const { amqpUrl, queue, n, warmup } = settings;
  const connection = await connect(amqpUrl, { noDelay: true });
  const channel = await connection.createConfirmChannel();

  // Task id → index of the task in its batch, for tasks whose answer is still due.
  const awaiting = new Map<string, number>();
  let onAnswer: (i: number, at: number) => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    failed = reject;
  });
  failure.catch(() => undefined); // observed by whichever batch is running
  /** The value each task of the running batch was sent with, by index. */
  let sentValue: (i: number) => number = (i) => i;

  const answer = settings.answer;
  const answered = answer !== undefined;
  const variant = await open({
    arrived(id, at, check) {
      const i = awaiting.get(id);
      if (i === undefined) return failed(new Error(`${answer ?? 'answer'} for unknown task ${id}`));
      awaiting.delete(id);
      if (check && !check.ok(sentValue(i))) return failed(new Error(`task ${id} ended ${check.ended}`));
      onAnswer(i, at);
    },
    failed: (error) => failed(error),
  });

  /** Publishes `count` tasks of values `value(i)`; resolves when all are confirmed and answered. */
  const batch = (
    count: number,
    value: (i: number) => number,
    onPublished: (i: number) => void,
    onAnswered: (i: number, at: number) => void,
  ): Batch => {
    let answers = 0;
    sentValue = value;
    const allAnswers =
      answered && count > 0
        ? new Promise<void>((resolve) => {
            onAnswer = (i, at) => {
              onAnswered(i, at);
              if (++answers === count) resolve();
            };
          })
        : Promise.resolve();
    const publishing = publishPipelined(
      channel,
      queue,
      count,
      (i) => variant.message(value(i)),
      (i, id) => {
        onPublished(i);
        if (answered) awaiting.set(id, i);
      },
    );
    const confirmed = publishing.done.then(now);
    const finished = Promise.all([confirmed, allAnswers]).then(([confirmedAt]) => ({ confirmedAt, finishedAt: now() }));
    const answersNote = (): string => (answered ? `, ${answer === 'reply' ? 'replies' : 'results'} ${answers}` : '');
    return {
      status: () => `published ${publishing.published()}/${count}, confirmed ${publishing.confirmed()}${answersNote()}`,
      done: Promise.race([finished, failure]),
    };
  };

  /** One round trip at a time (publish, confirm and answer, next), `latency` entries filled if given. */
  const oneAtATime = async (count: number, latency?: Float64Array, onDone: () => void = () => undefined) => {
    for (let i = 0; i < count; i++) {
      const at = now();
      let answeredAt = 0;
      await batch(
        1,
        (i) => i,
        () => undefined,
        (_, arrivedAt) => {
          answeredAt = arrivedAt;
        },
      ).done;
      if (latency) latency[i] = answeredAt - at;
      onDone();
    }
  };

  // Warm-up, not measured: the first messages through amqplib and the broker's queue process
  // (one at a time: that path itself).
  const warmupValue = variant.warmupValue ?? ((i: number) => i);
  if (settings.oneAtATime) await oneAtATime(warmup);
  else
    await batch(
      warmup,
      warmupValue,
      () => undefined,
      () => undefined,
    ).done;

  const sentAt = new Float64Array(n);
  const latency = new Float64Array(n);
  await child.ready();
  const startedAt = now();
  if (settings.oneAtATime) {
    let done = 0;
    const progress = setInterval(() => child.progress(`round trips ${done}/${n}`), 1000);
    await oneAtATime(n, latency, () => done++);
    clearInterval(progress);
    child.finished({ startedAt, finishedAt: now(), count: n, latency: summarizeLatency(latency) });
  } else {
    const measured = batch(
      n,
      (i) => i,
      (i) => {
        sentAt[i] = now();
      },
      (i, at) => {
        latency[i] = at - sentAt[i];
      },
    );
    const progress = setInterval(() => child.progress(measured.status()), 1000);
    const { confirmedAt, finishedAt } = await measured.done;
    clearInterval(progress);
    child.finished({
      startedAt,
      finishedAt,
      count: n,
      latency: answered ? summarizeLatency(latency) : undefined,
      extra: { publishSeconds: (confirmedAt - startedAt) / 1000 },
    });
  }

  await child.stopped();
  await connection.close();
  await variant.close();
  child.exit();
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chain, chord, createApp, group } from '../../lib/index.js';
import { finalTasks } from '../../lib/canvas/continuation.js';
import { checkEmbed } from '../../lib/canvas/embed-check.js';
import { nodeFromDict } from '../../lib/canvas/from-dict.js';
import { Chain } from '../../lib/canvas/chain.js';
import { Signature } from '../../lib/canvas/signature.js';
import { branchesOf, finalsOf, membersOf, readSignature, taskIdsOf, tasksAlong, walkSignatures } from '../../lib/canvas/signature-tree.js';
import { withTail } from '../../lib/canvas/workflow-tail.js';
import { CanvasError, CeleriacError, InvalidMessageError, MalformedSignatureError, UnsendableError } from '../../lib/errors/errors.js';
import { dateHeaderText, dateTimeText } from '../../lib/protocol/dates.js';
import type { SignatureDict } from '../../lib/protocol/task-message.js';

const sig = (task: string, options: Record<string, unknown> = {}): SignatureDict => ({
  task,
  args: [],
  kwargs: {},
  options: { task_id: `id-${task}`, ...options },
  subtask_type: null,
  immutable: false,
});
const chainOf = (...tasks: unknown[]): SignatureDict => ({
  task: 'celery.chain',
  args: [],
  kwargs: { tasks },
  options: {},
  subtask_type: 'chain',
  immutable: false,
});
const groupOf = (id: string, ...tasks: unknown[]): SignatureDict => ({
  task: 'celery.group',
  args: [],
  kwargs: { tasks },
  options: { task_id: id },
  subtask_type: 'group',
  immutable: false,
});
const chordOf = (header: unknown, body: unknown): SignatureDict => ({
  task: 'celery.chord',
  args: [],
  kwargs: { header, body, kwargs: {} },
  options: {},
  subtask_type: 'chord',
  immutable: false,
});

/** One of every node kind and every branch: link, link_error, chord option, chain and group tasks, chord header and body. */
function everyBranch(): SignatureDict {
  const first = sig('a', { link: [sig('a.link')], link_error: sig('a.error'), chord: sig('a.chord-body') });
  return chainOf(first, groupOf('g1', sig('b'), sig('c')), chordOf(groupOf('g2', sig('d'), sig('e')), chainOf(sig('f'), sig('g'))));
}

function malformed(run: () => unknown, field: string, problem: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof MalformedSignatureError, String(error));
    assert.ok(error instanceof CanvasError);
    assert.ok(error instanceof CeleriacError);
    assert.equal(error.code, 'CELERIAC_MALFORMED_SIGNATURE');
    assert.equal(error.field, field);
    assert.match(error.problem, problem);
    return true;
  });
}

describe('signature tree', () => {
  it('reads each node kind with its members and finals', () => {
    const task = readSignature(sig('t', { group_id: 'g', group_index: 2, chord_size: 3 }));
    assert.equal(task.kind, 'task');
    assert.deepEqual([task.taskId, task.groupId, task.groupIndex, task.chordSize], ['id-t', 'g', 2, 3]);
    const names = (branches: readonly { value: unknown }[]) => branches.map((b) => (b.value as SignatureDict).task);
    const chainView = readSignature(chainOf(sig('a'), sig('b')));
    assert.deepEqual([chainView.kind, names(membersOf(chainView)), names(finalsOf(chainView))], ['chain', ['a', 'b'], ['b']]);
    const groupView = readSignature(groupOf('g', sig('a'), sig('b')));
    assert.deepEqual(
      [groupView.kind, groupView.taskId, names(membersOf(groupView)), names(finalsOf(groupView))],
      ['group', 'g', ['a', 'b'], ['a', 'b']],
    );
    const chordView = readSignature(chordOf(groupOf('g', sig('a')), sig('b')));
    assert.deepEqual([chordView.kind, names(membersOf(chordView)), names(finalsOf(chordView))], ['chord', ['celery.group', 'b'], ['b']]);
  });

  it('walks every branch of every kind, in document order, with paths and depths', () => {
    const seen: string[] = [];
    walkSignatures(everyBranch(), branchesOf, ({ view, path, depth }) => seen.push(`${depth} ${path || '.'} ${view.dict.task}`));
    assert.deepEqual(seen, [
      '1 . celery.chain',
      '2 kwargs.tasks[0] a',
      '3 kwargs.tasks[0].options.link[0] a.link',
      '3 kwargs.tasks[0].options.link_error[0] a.error',
      '3 kwargs.tasks[0].options.chord a.chord-body',
      '2 kwargs.tasks[1] celery.group',
      '3 kwargs.tasks[1].kwargs.tasks[0] b',
      '3 kwargs.tasks[1].kwargs.tasks[1] c',
      '2 kwargs.tasks[2] celery.chord',
      '3 kwargs.tasks[2].kwargs.header celery.group',
      '4 kwargs.tasks[2].kwargs.header.kwargs.tasks[0] d',
      '4 kwargs.tasks[2].kwargs.header.kwargs.tasks[1] e',
      '3 kwargs.tasks[2].kwargs.body celery.chain',
      '4 kwargs.tasks[2].kwargs.body.kwargs.tasks[0] f',
      '4 kwargs.tasks[2].kwargs.body.kwargs.tasks[1] g',
    ]);
  });

  it('taskIdsOf lists every member task (not callbacks, errbacks or a chord option); finals are the tasks that end the part', () => {
    assert.deepEqual(taskIdsOf(everyBranch()), ['id-a', 'id-b', 'id-c', 'id-d', 'id-e', 'id-f', 'id-g']);
    assert.deepEqual(taskIdsOf(groupOf('empty')), [], 'an empty group has no task, and its own id is not one');
    assert.deepEqual(
      tasksAlong(everyBranch(), finalsOf).map((v) => v.dict.task),
      ['g'],
    );
    assert.deepEqual(
      finalTasks(chainOf(sig('a'), groupOf('g', sig('b'), chordOf(groupOf('h', sig('c')), groupOf('i', sig('d'), sig('e')))))).map(
        (d) => d.task,
      ),
      ['b', 'd', 'e'],
    );
    assert.deepEqual(finalTasks(groupOf('empty')), []);
  });

  it("reads link and link_error as one signature or a list (Celery's maybe_list)", () => {
    const view = readSignature(sig('t', { link: sig('one'), link_error: [sig('x'), sig('y')] }));
    assert.deepEqual(
      view.links.map((b) => b.field),
      ['options.link[0]'],
    );
    assert.deepEqual(
      view.errorLinks.map((b) => b.field),
      ['options.link_error[0]', 'options.link_error[1]'],
    );
  });

  it('refuses a malformed dict with the path of the field at fault', () => {
    malformed(() => readSignature('t'), '', /must be a signature \(an object\), got string/);
    malformed(() => readSignature({ ...sig('t'), task: 3 }), 'task', /must be a task name/);
    malformed(() => readSignature({ ...sig('t'), args: {} }), 'args', /must be a list/);
    malformed(() => readSignature({ ...sig('t'), kwargs: [] }), 'kwargs', /must be an object/);
    malformed(() => readSignature({ ...sig('t'), options: 'x' }), 'options', /must be an object/);
    malformed(() => readSignature({ ...sig('t'), subtask_type: 1 }), 'subtask_type', /must be a string or null/);
    malformed(() => readSignature({ ...sig('t'), immutable: 'yes' }), 'immutable', /must be true or false/);
    malformed(() => readSignature(sig('t', { task_id: 5 })), 'options.task_id', /must be a string/);
    malformed(() => readSignature(sig('t', { group_index: -1 })), 'options.group_index', /non-negative integer/);
    malformed(() => readSignature(sig('t', { link: 5 })), 'options.link', /must be a list of signatures, got number/);
    malformed(() => readSignature(sig('t', { chord: [] })), 'options.chord', /must be a signature/);
    malformed(() => readSignature(chainOf()), 'kwargs.tasks', /a chain needs a non-empty list of tasks, got a list/);
    malformed(() => readSignature({ ...groupOf('g'), kwargs: { tasks: 'x' } }), 'kwargs.tasks', /a group needs a list of tasks/);
    malformed(() => readSignature(chordOf(sig('h'), null)), 'kwargs.body', /a chord needs a body signature, got null/);
    malformed(() => readSignature(chordOf(null, sig('b'))), 'kwargs.header', /a chord needs a header signature/);
  });

  it('reads a chord header written as Celery 5.2 writes it: the list of its tasks', () => {
    // chain(a.s(1), chord([a.s(2), a.s(3)], a.s()), a.s()).tasks[1] as Celery 5.2.6 serializes it.
    const pyTask = (id: string, args: unknown[]) => ({
      task: 'tasks.a',
      args,
      kwargs: {},
      options: { task_id: id },
      subtask_type: null,
      immutable: false,
    });
    const pythonChord = {
      task: 'celery.chord',
      args: [],
      kwargs: { kwargs: {}, header: [pyTask('h1', [2]), pyTask('h2', [3])], body: pyTask('b', []) },
      options: {},
      subtask_type: 'chord',
      immutable: false,
    };
    const view = readSignature(pythonChord);
    assert.equal(view.kind, 'chord');
    assert.deepEqual(
      membersOf(view).map((b) => b.field),
      ['kwargs.header[0]', 'kwargs.header[1]', 'kwargs.body'],
    );
    assert.deepEqual(taskIdsOf(pythonChord), ['h1', 'h2', 'b']);
    assert.doesNotThrow(() => checkEmbed({ callbacks: null, errbacks: null, chain: [pyTask('e', []), pythonChord], chord: null }));
    const node = nodeFromDict(pythonChord);
    assert.deepEqual(taskIdsOf(node.freeze().toDict()), ['h1', 'h2', 'b'], 'rebuilt as a chord over both header tasks');
    malformed(
      () => walkSignatures({ ...pythonChord, kwargs: { header: [pyTask('h1', []), 7], body: pyTask('b', []) } }, branchesOf, () => {}),
      'kwargs.header[1]',
      /must be a signature/,
    );
    malformed(
      () => nodeFromDict({ ...pythonChord, kwargs: { header: 'h', body: pyTask('b', []) } }),
      'kwargs.header',
      /a header signature or a list of them, got string/,
    );
  });

  it('names the full path of a malformed signature deep in a walk, in nodeFromDict and in withTail', () => {
    const bad = chainOf(sig('a'), groupOf('g', sig('b'), chordOf(groupOf('h', sig('c')), sig('d', { link: [7] }))));
    const path = 'kwargs.tasks[1].kwargs.tasks[1].kwargs.body.options.link[0]';
    malformed(() => walkSignatures(bad, branchesOf, () => {}), path, /must be a signature \(an object\), got number/);
    malformed(() => nodeFromDict(bad), path, /must be a signature/);
    malformed(
      () => withTail(chainOf(sig('a'), chordOf(groupOf('h', sig('c')), chainOf())), { groupId: 'g', groupIndex: 0, chord: null }),
      'kwargs.tasks[1].kwargs.body.kwargs.tasks',
      /non-empty list/,
    );
  });

  it('bounds the depth of a walk without overflowing the stack', () => {
    let deep: unknown = sig('leaf');
    for (let i = 0; i < 20_000; i++) deep = sig('t', { link: [deep] });
    assert.throws(
      () => walkSignatures(deep, branchesOf, () => {}),
      (error: unknown) => {
        assert.ok(error instanceof MalformedSignatureError);
        assert.match(error.problem, /nested deeper than 100 levels/);
        assert.ok(error.message.length < 400, 'the path in the message is bounded');
        return true;
      },
    );
    let links = 0;
    walkSignatures(deep, membersOf, () => links++);
    assert.equal(links, 1, 'membersOf does not follow links');
  });

  it('finalTasks reports a part that does not read as unsendable', () => {
    assert.throws(
      () => finalTasks(chainOf(sig('a'), chordOf(groupOf('h', sig('c')), 'x'))),
      (error: unknown) => {
        assert.ok(error instanceof UnsendableError);
        assert.equal(error.part, 'chord-body');
        assert.match(error.message, /kwargs\.tasks\[1\]\.kwargs\.body: a chord needs a body signature/);
        return true;
      },
    );
  });

  it('withTail puts group membership and chord body on the task that ends the part', () => {
    const tail = { groupId: 'g', groupIndex: 1, chord: sig('body') };
    const tailed = withTail(chainOf(sig('a'), chordOf(groupOf('h', sig('c')), chainOf(sig('d'), sig('e')))), tail);
    const [end] = tasksAlong(tailed, finalsOf);
    assert.equal(end.dict.task, 'e');
    assert.deepEqual([end.groupId, end.groupIndex, end.chord?.value], ['g', 1, sig('body')]);
    assert.equal(tasksAlong(tailed, membersOf).filter((v) => v.groupId !== null).length, 1, 'only the final task');
    assert.throws(() => withTail(groupOf('g', sig('a')), tail), CanvasError);
  });

  it('round-trips a canvas built in code through Celery dicts', () => {
    const app = createApp({ broker: 'memory://signature-tree', logLevel: 'silent' });
    const add = app.task('spec.add', (x: number, y: number) => x + y);
    const sum = app.task('spec.sum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const workflow = chain(
      add.s(1, 2).link(add.s(3)).onError(add.si(0, 0)),
      group(add.s(1), add.s(2)),
      sum.s(),
      chord([add.s(1), add.s(2)], sum.s()),
    ).freeze();
    const dict = workflow.toDict();
    const rebuilt = nodeFromDict(dict, app);
    assert.ok(rebuilt instanceof Chain);
    assert.deepEqual(rebuilt.toDict(), dict);
    assert.equal(taskIdsOf(dict).length, 7);
    const first = (rebuilt as Chain).steps[0] as Signature;
    assert.equal((first.options.link as Signature[])[0].task, 'spec.add');
  });
});

describe('canvas errors', () => {
  it('are CanvasErrors with a stable code', () => {
    const app = createApp({ broker: 'memory://canvas-errors', logLevel: 'silent' });
    const add = app.task('spec.add', (x: number, y: number) => x + y);
    const cases: [string, () => unknown][] = [
      ['a chain needs at least one step', () => new Chain([])],
      ['has no task id yet: freeze() it first', () => add.s(1, 2).resultHandle(app)],
      ['group has no id yet', () => group(add.s(1)).resultHandle(app)],
      ['chord has no id yet', () => chord([add.s(1)], add.s(2)).resultHandle(app)],
    ];
    for (const [message, run] of cases) {
      let thrown: unknown;
      try {
        run();
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown instanceof CanvasError, message);
      assert.equal(thrown.code, 'CELERIAC_CANVAS');
      assert.ok(thrown.message.includes(message), thrown.message);
    }
  });

  it('rejects applyAsync of an unbound node with a CanvasError', async () => {
    await assert.rejects(
      Signature.fromDict(sig('t')).applyAsync(),
      (error: unknown) => error instanceof CanvasError && /not bound to an app/.test(error.message),
    );
  });
});

describe('one date-time rule for headers and embeds', () => {
  it('takes ISO 8601, kombu’s wrapper and a Date; refuses text only JavaScript reads', () => {
    assert.equal(dateTimeText('2030-01-01T00:00:00+00:00'), '2030-01-01T00:00:00+00:00');
    assert.equal(dateTimeText({ __type__: 'datetime', __value__: '2030-01-01T00:00:00' }), '2030-01-01T00:00:00Z');
    assert.equal(dateTimeText(new Date('2030-01-01T00:00:00Z')), '2030-01-01T00:00:00.000Z');
    for (const bad of ['Jan 1 2030', '2030/01/01', 'garbage', 12, new Date(NaN), Buffer.from('2030-01-01')])
      assert.equal(dateTimeText(bad), undefined, String(bad));
    assert.equal(dateHeaderText(Buffer.from('2030-01-01')), '2030-01-01', 'a header may come as bytes');
    assert.equal(dateHeaderText(null), null);
  });

  it('checkEmbed applies it to eta and expires', () => {
    const embed = (options: Record<string, unknown>) => ({ callbacks: [sig('t', options)], errbacks: null, chain: null, chord: null });
    assert.doesNotThrow(() => checkEmbed(embed({ eta: '2030-01-01T00:00:00Z', expires: 30 })));
    assert.doesNotThrow(() => checkEmbed(embed({ eta: new Date(), expires: { __type__: 'datetime', __value__: '2030-01-01T00:00:00' } })));
    for (const options of [{ eta: 'Jan 1 2030' }, { expires: 'Jan 1 2030' }]) {
      assert.throws(
        () => checkEmbed(embed(options)),
        (error: unknown) => error instanceof InvalidMessageError && error.reason === 'embed' && /ISO 8601/.test(error.message),
      );
    }
  });
});

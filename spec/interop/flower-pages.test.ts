import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningProcess } from '../support/processes.js';
import {
  deleteFlowerQueues,
  flowerQueues,
  flowerUnavailable,
  startFlower,
  startFlowerWorker,
  stopFlower,
  stopProcess,
  until,
  type Flower,
} from './flower-peer.js';

/** Where the screenshots of a run are kept (gitignored): spec-artifacts/flower/ at the repository's top. */
const ARTIFACTS = new URL('../../../spec-artifacts/flower/', import.meta.url).pathname;
/** Debian's chromium (apt-get install chromium); playwright-core drives it and downloads no browser. */
const CHROMIUM = process.env.CELERIAC_SPEC_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const skip = flowerUnavailable();
if (skip) console.warn(`\n*** interop: Flower pages specs SKIPPED: ${skip} ***\n`);

/**
 * Flower's pages in a real headless browser, watching a celeriac worker: every table that has
 * data shows it, no page has a JavaScript error or logs one, and the buttons that act on the
 * worker and its tasks work from the page. Screenshots of the pages are kept in ARTIFACTS.
 */
describe('interop: Flower 2.0.1 pages in a headless browser', { skip: skip ?? false }, () => {
  const queues = flowerQueues('flower-pages');
  let flower: Flower;
  let worker: { process: RunningProcess; name: string };
  let browser: Browser;
  /** JavaScript errors and console errors of every page opened, with the page's path. */
  const errors: string[] = [];
  const ids: { added: string; failed: string; retried: string; sleeping: string } = { added: '', failed: '', retried: '', sleeping: '' };

  const taskState = async (id: string): Promise<string> => (await flower.json<{ state: string }>(`/api/task/info/${id}`)).state;
  const sendTask = async (name: string, body: Record<string, unknown>, state: string): Promise<string> => {
    const sent = await flower.post(`/api/task/send-task/${name}`, { json: { queue: queues.node, ...body } });
    assert.equal(sent.status, 200, `${sent.status} ${sent.text}\nFlower's log:\n${flower.tail()}`);
    const id = (JSON.parse(sent.text) as { 'task-id': string })['task-id'];
    await until(`${name} ${state} in Flower`, async () => (await taskState(id).catch(() => '')) === state);
    return id;
  };

  /** Opens `path` in a new page that records its errors; `ready` waits for the page's data. */
  async function open(path: string, ready: (page: Page) => Promise<void>): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1000 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (error) => errors.push(`${path}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`${path}: console: ${message.text()}`);
    });
    const response = await page.goto(`${flower.url}${path}`, { waitUntil: 'load' });
    assert.equal(response?.status(), 200, `GET ${path}`);
    await ready(page);
    return page;
  }

  const screenshot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  };
  /** The text of the cell beside the row headed `label` in `table`. */
  const cellBeside = (page: Page, table: string, label: string): Promise<string> =>
    page
      .locator(`${table} tr`, { has: page.locator('td', { hasText: new RegExp(`^${label}$`) }) })
      .locator('td')
      .nth(1)
      .innerText();
  /** Waits for a success alert (what Flower's buttons show once their call answered) and returns its text. */
  const alertText = async (page: Page): Promise<string> =>
    (await page.locator('#alert-container .alert-success').last().innerText()).trim();

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CELERIAC_SPEC_CHROMIUM)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    worker = startFlowerWorker(queues);
    [flower, browser] = await Promise.all([
      startFlower(queues),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
      worker.process.waitFor(/ready: queues/, 30_000),
    ]);
    const name = encodeURIComponent(worker.name);
    await until('the worker listed by Flower', async () => {
      const response = await flower.fetch(`/api/workers?refresh=1&workername=${name}`);
      return response.ok && Boolean(((await response.json()) as Record<string, { stats?: unknown }>)[worker.name]?.stats);
    });
    // Flower hears events once its event queue is bound: the worker's heartbeats (every 2 s) say when.
    await until(
      'the worker’s events reaching Flower',
      async () => (await flower.json<Record<string, boolean>>('/api/workers?status=1'))[worker.name],
    );
    ids.added = await sendTask('node.add', { args: [2, 3] }, 'SUCCESS');
    ids.failed = await sendTask('node.fail', { args: ['boom'] }, 'FAILURE');
    ids.retried = await sendTask('node.retry_once', {}, 'SUCCESS');
    ids.sleeping = await sendTask('node.sleep', { args: [300_000] }, 'STARTED');
  });

  after(async () => {
    await browser?.close();
    await stopProcess(worker?.process);
    await stopFlower(flower);
    await deleteFlowerQueues(queues);
  });

  it('/workers: the celeriac worker’s row, online, with its task counts', async () => {
    const page = await open('/workers', async (p) => {
      await p.locator('#workers-table_filter input').fill(worker.name); // other workers on the broker are listed too
      await p.locator('#workers-table tbody tr', { hasText: worker.name }).waitFor();
    });
    const row = page.locator('#workers-table tbody tr', { hasText: worker.name });
    assert.equal(await row.locator('td').nth(1).innerText(), 'Online');
    // Active, Processed (task-received), Failed, Succeeded, Retried, from the worker's events.
    await until('the counts in the row', async () => {
      const cells = await row.locator('td').allInnerTexts();
      return cells.slice(2, 7).join(',') === '1,5,1,2,1';
    });
    assert.match(await row.locator('td').nth(7).innerText(), /^\d+(\.\d+)?, \d+(\.\d+)?, \d+(\.\d+)?$/, 'load average');
    await screenshot(page, 'workers');
    await page.close();
  });

  it('/worker/<name>: every tab’s table has the worker’s data; Grow and a rate limit applied from the page', async () => {
    // The page shows what Flower last heard from the worker and asks again only for the next
    // view (as its Refresh does): ask it now, so the tasks run since are in.
    // (Asked until all is in: Flower keeps a field as it was when its reply is slower than --inspect_timeout.)
    await until('the worker page’s data', async () => {
      const seen = (
        await flower.json<
          Record<
            string,
            {
              stats?: { total: Record<string, number> };
              active?: { id: string }[];
              conf?: object;
              registered?: string[];
              active_queues?: unknown[];
            }
          >
        >(`/api/workers?refresh=1&workername=${encodeURIComponent(worker.name)}`)
      )[worker.name];
      return (
        seen.stats?.total['node.add'] === 1 &&
        seen.active?.some((task) => task.id === ids.sleeping) &&
        seen.conf !== undefined &&
        seen.registered?.length === 4 &&
        seen.active_queues?.length === 1
      );
    });
    const page = await open(`/worker/${encodeURIComponent(worker.name)}`, async (p) => {
      await p.locator('#workername').waitFor();
    });
    assert.equal(await page.locator('#workername').innerText(), worker.name);
    assert.equal(await cellBeside(page, '#tab-pool', 'Max concurrency'), '2');
    assert.equal(await cellBeside(page, '#tab-pool', 'Implementation'), 'Celeriac:async');
    assert.equal(await cellBeside(page, '#tab-pool', 'Worker PID'), String(worker.process.child.pid));
    assert.equal(await cellBeside(page, '#tab-broker', 'Hostname'), '127.0.0.1');
    assert.equal(await cellBeside(page, '#tab-broker', 'Virtual host'), '/');
    assert.deepEqual(await page.locator('#worker-queues tr td:first-child').allTextContents(), [queues.node]);
    const tables = (caption: string) => page.locator('#tab-tasks table', { has: page.locator('caption', { hasText: caption }) });
    assert.ok((await tables('Processed tasks').locator('tbody tr').allTextContents()).some((t) => t.includes('node.add')));
    assert.deepEqual(await tables('Active tasks').locator('tbody tr td:nth-child(2)').allTextContents(), [ids.sleeping]);
    assert.deepEqual(await page.locator('#limits-table tr td:first-child').allTextContents(), [
      'node.add',
      'node.fail',
      'node.retry_once',
      'node.sleep',
    ]);
    assert.ok((await page.locator('#tab-config tbody tr').count()) > 10, 'the config table');
    assert.ok((await page.locator('#tab-system tbody tr').count()) >= 5, 'the system (rusage) table');
    await screenshot(page, 'worker');

    await page.locator('#worker-pool-grow').click();
    assert.equal(await alertText(page), `Growing '${worker.name}' worker's pool by 1`);
    // The Limits tab's rate field sends parseInt of its value: a bare number, per second.
    await page.locator('a[href="#tab-limits"]').click();
    const addRow = page.locator('#limits-table tr', { has: page.locator('td', { hasText: /^node\.add$/ }) });
    await addRow.locator('input').first().fill('1000');
    await addRow.locator('button', { hasText: 'Apply' }).click();
    await until('the rate limit alert', async () =>
      (await page.locator('#alert-container .alert-success').allInnerTexts()).some((t) => t.includes('new rate limit set successfully')),
    );
    await page.locator('a[href="#tab-tasks"]').click();
    await page.locator('#tab-tasks.active.show').waitFor(); // the tab's fade-in is over
    await screenshot(page, 'worker-tasks');
    await page.close();
    await until('the pool grown by the page’s button', async () => {
      const seen = (
        await flower.json<Record<string, { stats: { pool: Record<string, number> } }>>(
          `/api/workers?refresh=1&workername=${encodeURIComponent(worker.name)}`,
        )
      )[worker.name];
      return seen.stats.pool['max-concurrency'] === 3;
    });
  });

  it('/tasks: a row per task with its state, arguments, result and worker', async () => {
    // Flower lists every task on the broker (other workers' too): its search box narrows the
    // table to this worker's (it matches the worker's name among a task's fields).
    const page = await open('/tasks', async (p) => {
      await p.locator('#tasks-table_filter input').fill(worker.name);
      await p.locator(`#tasks-table tr[id="${ids.failed}"]`).waitFor();
    });
    const row = (id: string) => page.locator(`#tasks-table tr[id="${id}"]`);
    const cells = async (id: string): Promise<string[]> => (await row(id).locator('td').allInnerTexts()).map((t) => t.trim());
    const [name, uuid, state, args, , result, received, started, , workerName] = await cells(ids.added);
    assert.deepEqual([name, uuid, state, args, result, workerName], ['node.add', ids.added, 'SUCCESS', '[2, 3]', '5', worker.name]);
    assert.match(received, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
    assert.match(started, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
    assert.equal((await cells(ids.failed))[2], 'FAILURE');
    assert.equal((await cells(ids.retried))[2], 'SUCCESS');
    assert.equal((await cells(ids.sleeping))[2], 'STARTED');
    await screenshot(page, 'tasks');
    await page.close();
  });

  it('/task/<id>: a failed task with its exception and traceback', async () => {
    const page = await open(`/task/${ids.failed}`, async (p) => {
      await p.locator('#task-page table').waitFor();
    });
    assert.equal(await cellBeside(page, '#task-page', 'State'), 'FAILURE');
    assert.equal(await cellBeside(page, '#task-page', 'args'), "['boom']");
    assert.equal(await cellBeside(page, '#task-page', 'Exception'), 'TypeError("boom")');
    assert.match(await page.locator('#task-page pre').innerText(), /^TypeError: boom\n\s+at /);
    assert.equal(await cellBeside(page, '#task-page', 'Worker'), worker.name);
    await screenshot(page, 'task');
    await page.close();
  });

  it('/task/<id>: a running task terminated with its Terminate button', async () => {
    const page = await open(`/task/${ids.sleeping}`, async (p) => {
      await p.locator('#task-terminate').waitFor();
    });
    assert.equal(await cellBeside(page, '#task-page', 'State'), 'STARTED');
    await page.locator('#task-terminate').click();
    assert.equal(await alertText(page), `Revoked '${ids.sleeping}'`);
    await until('the task revoked', async () => (await taskState(ids.sleeping)) === 'REVOKED');
    await page.close();
  });

  it('/broker: the worker’s queue with its counts', async () => {
    const id = encodeURIComponent(queues.node);
    // Flower gives RabbitMQ's management API 2 s per page view and shows no queue when it is
    // slower (a loaded machine): the page is reloaded until the queue is in, as a user would.
    const page = await open('/broker', async (p) => {
      await until(
        'the queue on the broker page',
        async () => {
          if ((await p.locator(`#queue-table tr[id="${id}"]`).count()) > 0) return true;
          await p.reload({ waitUntil: 'load' });
          return false;
        },
        60_000,
      );
    });
    // Name, messages, unacked, ready, consumers: RabbitMQ's sampled counts (they may lag a few seconds).
    const cells = await page.locator(`#queue-table tr[id="${id}"] td`).allInnerTexts();
    assert.equal(cells[0], queues.node);
    for (const count of cells.slice(1, 4)) assert.match(count, /^\d+$/);
    assert.equal(cells[4], '1', 'one consumer: the worker');
    await screenshot(page, 'broker');
    await page.close();
  });

  it('no page had a JavaScript error or logged one', (t) => {
    t.diagnostic(`Flower screenshots: ${ARTIFACTS}`);
    assert.deepEqual(errors, []);
  });
});

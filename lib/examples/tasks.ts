// The walkthrough's tasks module. Run a worker for it with
//   celeriac worker -A ./dist/lib/examples/tasks.js --concurrency=4 --loglevel=info
// Broker and backend come from CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND when set.
import { createApp } from '../index.js';

export const app = createApp({
  name: 'tasks',
  broker: process.env.CELERIAC_BROKER_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  backend: process.env.CELERIAC_RESULT_BACKEND ?? 'redis://127.0.0.1:6379/0',
});

export const add = app.task('tasks.add', (x: number, y: number) => x + y, { argNames: ['x', 'y'] });
export const multiply = app.task('tasks.multiply', (x: number, y: number) => x * y, { argNames: ['x', 'y'] });
export const addAll = app.task('tasks.add_all', (numbers: number[]) => numbers.reduce((sum, n) => sum + n, 0));

export default app;

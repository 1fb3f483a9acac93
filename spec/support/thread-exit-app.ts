import { createApp } from '../../lib/index.js';

/** An app for the threads pool's failure specs: one of its tasks ends its own thread. */
export const app = createApp({ name: 'thread-exit-spec', broker: 'memory://thread-exit-spec', backend: null, logLevel: 'silent' });

/** Ends the thread running it, with exit code 3. */
export const quit = app.task('spec.thread-exit.quit', () => process.exit(3));
export const echo = app.task('spec.thread-exit.echo', (value: unknown) => value);

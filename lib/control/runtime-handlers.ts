import { secondsArgument, shortTextArgument, taskNameArgument } from './handler-arguments.js';
import { type ControlledEvents, type Handler, type HandlerState, nok, ok } from './handler-state.js';

/** Only a worker embedded without a WorkerEventSender answers this: `celeriac worker` always has one (task events off without -E). */
const NO_EVENTS = 'events are not enabled on this worker (its ControlServer was given no event sender)';

/**
 * Celery's commands that change how a worker runs from now on: a task's time limits, its
 * event sending, and election (Celery's gossip; a celeriac worker takes part in none).
 */
export const RUNTIME_HANDLERS: Record<string, Handler> = {
  /** Celery's time_limit: sets both limits (an absent one is removed), for runs that start later. */
  time_limit: ({ worker }, args) => {
    const name = taskNameArgument(args, 'task_name');
    const soft = secondsArgument(args, 'soft');
    const hard = secondsArgument(args, 'hard');
    const task = worker.app.tasks.get(name);
    if (!task) return nok('unknown task');
    task.setTimeLimits(hard, soft);
    worker.logger.info(`New time limits for tasks of type ${name}: soft=${soft ?? 'None'} hard=${hard ?? 'None'}`);
    return ok('time limits set successfully');
  },
  enable_events: (state) => {
    const events = eventsOf(state);
    if (!events) return nok(NO_EVENTS);
    if (events.taskEvents) return ok('task events already enabled');
    events.taskEvents = true;
    state.worker.logger.info('Events of group {task} enabled by remote.');
    return ok('task events enabled');
  },
  disable_events: (state) => {
    const events = eventsOf(state);
    if (!events) return nok(NO_EVENTS);
    if (!events.taskEvents) return ok('task events already disabled');
    events.taskEvents = false;
    state.worker.logger.info('Events of group {task} disabled by remote.');
    return ok('task events disabled');
  },
  /** Celery's heartbeat: one worker-heartbeat event now. */
  heartbeat: (state) => {
    const events = eventsOf(state);
    if (!events) return nok(NO_EVENTS);
    events.heartbeat();
    return ok('heartbeat sent');
  },
  /** Celery's election without gossip: nothing happens and nothing is answered (null), as Celery's. */
  election: (_state, args) => {
    shortTextArgument(args, 'id');
    shortTextArgument(args, 'topic');
    shortTextArgument(args, 'action');
    return null;
  },
};

function eventsOf(state: HandlerState): ControlledEvents | null {
  return state.events;
}

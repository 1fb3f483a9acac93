/**
 * The AMQP queue arguments a declaration's intents become, for reports that must show them as
 * Celery does (a worker's `active_queues` reply lists kombu's `queue_arguments`). Declaring is
 * the adapters' business; this is for describing a queue only.
 */
export { queueArguments } from './amqp/queue-arguments.js';

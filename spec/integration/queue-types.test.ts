import { describeQueueTypesAndDeadLetters } from '../conformance/queue-types.conformance.js';
import { realApp } from '../support/apps.js';

describeQueueTypesAndDeadLetters('amqp:// + redis://', (options) => realApp(options));

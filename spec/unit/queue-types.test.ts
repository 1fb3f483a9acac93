import { describeQueueTypesAndDeadLetters } from '../conformance/queue-types.conformance.js';
import { memoryApp } from '../support/apps.js';

describeQueueTypesAndDeadLetters('memory://', (options) => memoryApp(options));

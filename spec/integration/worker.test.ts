import { describeWorkerBehaviour } from '../conformance/worker.conformance.js';
import { realApp } from '../support/apps.js';

describeWorkerBehaviour('amqp:// + redis://', () => realApp());

import { describeOutcomeBehaviour } from '../conformance/outcome.conformance.js';
import { realApp } from '../support/apps.js';

describeOutcomeBehaviour('amqp:// + redis://', () => realApp());

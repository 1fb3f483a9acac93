import { describeDeliveryControl } from '../conformance/delivery.conformance.js';
import { realApp } from '../support/apps.js';

describeDeliveryControl('amqp:// + redis://', (options) => realApp(options));

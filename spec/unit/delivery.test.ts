import { describeDeliveryControl } from '../conformance/delivery.conformance.js';
import { memoryApp } from '../support/apps.js';

describeDeliveryControl('memory://', (options) => memoryApp(options));

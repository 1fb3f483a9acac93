import { describeWorkerBehaviour } from '../conformance/worker.conformance.js';
import { memoryApp } from '../support/apps.js';

describeWorkerBehaviour('memory://', () => memoryApp());

import { describeOutcomeBehaviour } from '../conformance/outcome.conformance.js';
import { memoryApp } from '../support/apps.js';

describeOutcomeBehaviour('memory://', () => memoryApp());

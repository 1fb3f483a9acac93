import { describeCanvasBehaviour } from '../conformance/canvas.conformance.js';
import { realApp } from '../support/apps.js';

describeCanvasBehaviour('amqp:// + redis://, two workers', () => realApp(), { workers: 2, chordSize: 10_000 });

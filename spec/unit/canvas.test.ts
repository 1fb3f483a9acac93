import { describeCanvasBehaviour } from '../conformance/canvas.conformance.js';
import { memoryApp } from '../support/apps.js';

describeCanvasBehaviour('memory://', () => memoryApp(), { chordSize: 1000 });

import net from 'node:net';

/**
 * A hostile AMQP 0-9-1 server for the client's guards against a broken or malicious broker. It
 * speaks just enough of the handshake (connection.start, .tune, .open-ok) to bring a client to the
 * point where the misbehaviour starts, and records what each client did.
 */
export type Misbehaviour =
  /** connection.tune offers a frameMax below the protocol minimum of 4096. */
  | { kind: 'tiny-frame-max'; frameMax: number }
  /** In reply to the first channel.open, a frame header declaring `size` bytes, then junk, 64 KiB a turn. */
  | { kind: 'huge-frame'; size: number };

export interface FakeAmqpServer {
  readonly port: number;
  /** Per accepted client: bytes of junk written to it so far, and whether it closed its socket. */
  readonly clients: { junkWritten: number; closed: boolean }[];
  close(): Promise<void>;
}

const FRAME_METHOD = 1;
const FRAME_END = 0xce;

function frame(type: number, channel: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt8(type, 0);
  header.writeUInt16BE(channel, 1);
  header.writeUInt32BE(payload.length, 3);
  return Buffer.concat([header, payload, Buffer.from([FRAME_END])]);
}

function method(classId: number, methodId: number, args: Buffer): Buffer {
  const ids = Buffer.alloc(4);
  ids.writeUInt16BE(classId, 0);
  ids.writeUInt16BE(methodId, 2);
  return frame(FRAME_METHOD, 0, Buffer.concat([ids, args]));
}

function longString(text: string): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(Buffer.byteLength(text), 0);
  return Buffer.concat([length, Buffer.from(text)]);
}

const connectionStart = method(
  10,
  10,
  Buffer.concat([Buffer.from([0, 9]), Buffer.alloc(4) /* empty server-properties */, longString('PLAIN'), longString('en_US')]),
);

function connectionTune(frameMax: number): Buffer {
  const args = Buffer.alloc(8);
  args.writeUInt16BE(0, 0); // channel-max
  args.writeUInt32BE(frameMax, 2);
  args.writeUInt16BE(0, 6); // heartbeat
  return method(10, 30, args);
}

const connectionOpenOk = method(10, 41, Buffer.from([0])); // reserved shortstr ''
const connectionCloseOk = method(10, 51, Buffer.alloc(0));

/** Method (class, method) ids of the complete frames in `buffer`, and the bytes left over. */
function readMethods(buffer: Buffer): { methods: string[]; rest: Buffer } {
  const methods: string[] = [];
  let offset = 0;
  while (buffer.length - offset >= 7) {
    const size = buffer.readUInt32BE(offset + 3);
    if (buffer.length - offset < 8 + size) break;
    if (buffer.readUInt8(offset) === FRAME_METHOD) methods.push(`${buffer.readUInt16BE(offset + 7)}.${buffer.readUInt16BE(offset + 9)}`);
    offset += 8 + size;
  }
  return { methods, rest: buffer.subarray(offset) };
}

export async function startFakeAmqpServer(misbehaviour: Misbehaviour): Promise<FakeAmqpServer> {
  const clients: FakeAmqpServer['clients'] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const client = { junkWritten: 0, closed: false };
    clients.push(client);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      client.closed = true;
      sockets.delete(socket);
    });
    let pending: Buffer = Buffer.alloc(0);
    let greeted = false;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!greeted) {
        if (pending.length < 8) return;
        greeted = true;
        pending = pending.subarray(8); // "AMQP" 0 0 9 1
        socket.write(connectionStart);
      }
      const { methods, rest } = readMethods(pending);
      pending = rest;
      const frameMax = misbehaviour.kind === 'tiny-frame-max' ? misbehaviour.frameMax : 131_072;
      for (const id of methods) {
        if (id === '10.11') socket.write(connectionTune(frameMax)); // start-ok
        if (id === '10.40') socket.write(connectionOpenOk);
        if (id === '10.50') socket.end(connectionCloseOk); // connection.close
        if (id === '20.10' && misbehaviour.kind === 'huge-frame') {
          // channel.open: instead of its open-ok, announce a frame of `size` bytes and feed junk.
          // (Not in the same read as connection.open-ok: amqplib 2.3.1 parses frames that follow
          // open-ok before it hands the connection out, and its frame error is then thrown from
          // an 'error' event nobody can listen to yet — an uncaught exception.)
          const header = Buffer.alloc(7);
          header.writeUInt8(FRAME_METHOD, 0);
          header.writeUInt32BE(misbehaviour.size, 3);
          socket.write(header);
          const junk = Buffer.alloc(64 * 1024, 0x41);
          const feed = () => {
            // At most 256 MiB: a client without the guard buffers all of it; the spec then fails.
            if (client.closed || socket.destroyed || client.junkWritten >= Math.min(misbehaviour.size, 256 * 1024 * 1024)) return;
            client.junkWritten += junk.length;
            socket.write(junk, () => setImmediate(feed));
          };
          feed();
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    clients,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Type-checked by tests/sdk/node.test.mjs with tsc (strict; node16 and bundler resolution), never run: a
// program that uses the documented API of @rivulet/sdk, and misuses that the types must refuse.
import { Client, RivuletError, generatePrivateKey, type MessageMetadata, type Deployment } from '@rivulet/sdk';

declare const deployment: Deployment;
declare const ethereum: { request(args: { method: string; params?: unknown[] | object }): Promise<unknown> };

async function main(): Promise<void> {
  const client = new Client({ nodes: ['/ip4/127.0.0.1/tcp/1/ws/p2p/12D3'], privateKey: generatePrivateKey(), deployment, ethereum });
  const address: string = await client.getAddress();
  const stream = await client.createStream({ id: '/sensors', partitions: 2, name: 'Sensors' });
  await client.grantPermissions(stream.id, { public: true, permissions: ['subscribe'] });
  const sub = await client.subscribe({ id: stream.id, partition: 1 }, (content, meta: MessageMetadata) => {
    console.log(content, meta.publisherId, meta.verified);
  }, { last: 5, onEnd: (r) => console.log(r), onError: (e) => console.log(e) });
  const r = await client.publish(stream.id, { t: 1 }, { partitionKey: 'dev-1' });
  console.log(r.sequenceNumber, address);
  const old = await client.resend(stream.id, { last: 10 });
  for (const { content, metadata } of old) console.log(content, metadata.timestamp, metadata.late === true);
  const [node] = await client.storageNodes({ id: stream.id, partition: 1 });
  const direct = new Client({ nodes: node.addresses });
  const checked = await client.verifyHistory(stream.id, { last: 1000 });
  const intervals: number[] = [...checked.verified, ...checked.pending];
  console.log(intervals.length, checked.events, checked.from, checked.to, node.live, node.peerId);
  await direct.destroy();
  await sub.unsubscribe();
  try { await client.getStream('nope'); } catch (e) { if (e instanceof RivuletError) console.log(e.code); }
  await client.destroy();
}
void main;

// The types are not `any`: each of these must be an error.
async function misuse(client: Client): Promise<void> {
  // @ts-expect-error the stream id is a string
  await client.publish(42, {});
  // @ts-expect-error no such permission
  await client.grantPermissions('s', { user: '0x', permissions: ['own'] });
  // @ts-expect-error resend takes last or from/to
  await client.resend('s', { first: 3 });
  // @ts-expect-error verifyHistory takes a resend query
  await client.verifyHistory('s', { since: 3 });
  // @ts-expect-error nodes are required
  new Client({ privateKey: generatePrivateKey() });
}
void misuse;

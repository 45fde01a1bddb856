// A page as a dapp developer writes it: `@rivulet/sdk` imported by name and bundled (the test builds
// this with Vite and with webpack). It publishes one event and waits for it on its own subscription.
import { Client, generatePrivateKey } from '@rivulet/sdk';

const out = document.getElementById('out');

async function main() {
  const config = await (await fetch('./config.json')).json();
  const client = new Client({ nodes: config.nodes.slice(0, 1), privateKey: generatePrivateKey(), deployment: config.deployment });
  const marker = Math.random();
  let subscribed;
  const received = new Promise((resolve) => {
    subscribed = client.subscribe(config.demo.stream, (content) => { if (content.marker === marker) resolve(content); });
  });
  await subscribed;
  await client.publish(config.demo.stream, { bundled: true, marker });
  const content = await received;
  await client.destroy();
  out.dataset.state = 'ok';
  out.textContent = JSON.stringify(content);
}

main().catch((e) => {
  out.dataset.state = 'error';
  out.textContent = `${e.code ?? ''} ${e.message}`;
});

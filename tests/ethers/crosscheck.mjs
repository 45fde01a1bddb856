// Cross-checks Rivulet's protocol core against Ethereum tooling nobody here wrote: ethers v6 for EIP-191
// hashing, signing and recovery, EIP-55 addresses and keccak; eciesjs for ECIES. An independent JS encoder
// of the wire format (written from PROTOCOL.md) re-encodes every message byte for byte.
//
// Inputs (environment):
//   RIVULET_VECTORS    sdk/protocol/testdata/vectors.json (pinned vectors)
//   RIVULET_RUST_JSON  random messages signed by Rust (`cargo run --example ethers_crosscheck -- emit`)
//   RIVULET_ETHERS_OUT where to write messages signed by ethers, for Rust to verify
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import {
  Wallet, getBytes, hexlify, hashMessage, verifyMessage, keccak256, toUtf8Bytes, computeAddress, concat,
} from 'ethers';
import { encrypt as eciesEncrypt, decrypt as eciesDecrypt } from 'eciesjs';

const DOMAIN = toUtf8Bytes('Rivulet message v1:\n');

// JSON.parse loses u64 precision: read every timestamp as a string.
function readJson(path) {
  const text = readFileSync(path, 'utf8').replace(/"timestamp": (\d+)/g, '"timestamp": "$1"');
  return JSON.parse(text);
}

const bytes = (hex) => getBytes(hex.startsWith('0x') ? hex : `0x${hex}`);
const plainHex = (b) => hexlify(b).slice(2);

/** The body encoding (everything but the signature), from PROTOCOL.md. */
function encodeBody(m, publisher) {
  const parts = [];
  const u8 = (n) => parts.push(Uint8Array.of(n));
  const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); parts.push(b); };
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(Number(n)); parts.push(b); };
  const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); parts.push(b); };
  const short = (s) => { const b = Buffer.from(s, 'utf8'); assert.ok(b.length <= 255); u8(b.length); parts.push(b); };
  u8(1);
  short(m.streamId);
  u8(m.partition);
  u64(m.timestamp);
  u32(m.sequenceNumber);
  parts.push(bytes(publisher));
  short(m.chainId);
  if (m.prev) { u8(1); u64(m.prev.timestamp); u32(m.prev.sequenceNumber); } else { u8(0); }
  u8(m.messageType);
  u8(m.contentType);
  if (m.groupKeyId) { u8(1); short(m.groupKeyId); } else { u8(0); }
  if (m.newGroupKey) {
    const data = bytes(m.newGroupKey.data);
    u8(1); short(m.newGroupKey.id); u16(data.length); parts.push(data);
  } else { u8(0); }
  u8(1); // signature type: EIP-191 secp256k1
  const content = bytes(m.content);
  u32(content.length);
  parts.push(content);
  return concat(parts);
}

/** Checks one Rust-made message against ethers and the JS encoder. */
function checkMessage(m) {
  const wallet = new Wallet(m.privateKey);
  assert.equal(wallet.address, m.address, `${m.name}: address`);
  const body = encodeBody(m, wallet.address);
  const payload = concat([DOMAIN, body]);
  if (m.signedPayload) assert.equal(plainHex(payload), m.signedPayload, `${m.name}: signed payload`);
  if (m.eip191Hash) assert.equal(hashMessage(bytes(payload)).slice(2), m.eip191Hash, `${m.name}: EIP-191 hash`);
  assert.equal(plainHex(concat([body, bytes(m.signature)])), m.wire, `${m.name}: wire bytes`);
  assert.equal(verifyMessage(bytes(payload), `0x${m.signature}`), wallet.address, `${m.name}: ethers recovers`);
  assert.equal(wallet.signMessageSync(bytes(payload)).slice(2), m.signature, `${m.name}: ethers signs the same bytes`);
}

const vectors = readJson(process.env.RIVULET_VECTORS ?? 'sdk/protocol/testdata/vectors.json');

test('pinned message vectors: JS encoding, EIP-191 hash, ethers recovery and identical signatures', () => {
  assert.ok(vectors.messages.length >= 5);
  for (const m of vectors.messages) checkMessage(m);
});

test('pinned addresses match ethers computeAddress (EIP-55)', () => {
  for (const a of vectors.addresses) assert.equal(computeAddress(a.privateKey), a.address);
});

test('pinned partitions match keccak256 mod n computed by ethers', () => {
  for (const p of vectors.partitions) {
    const head = BigInt(keccak256(toUtf8Bytes(p.key)).slice(0, 18));
    assert.equal(Number(head % BigInt(p.partitions)), p.partition, `key ${JSON.stringify(p.key)}`);
  }
});

test('pinned ECIES ciphertexts open with eciesjs', () => {
  for (const e of vectors.ecies) {
    const plain = eciesDecrypt(e.recipientPrivateKey.slice(2), bytes(e.ciphertext));
    assert.equal(plainHex(plain), e.plaintext);
  }
});

test('random messages signed by Rust verify in ethers, byte for byte', () => {
  assert.ok(process.env.RIVULET_RUST_JSON, 'set RIVULET_RUST_JSON (cargo xtask test does)');
  const rust = readJson(process.env.RIVULET_RUST_JSON);
  assert.ok(rust.messages.length >= 20);
  for (const m of rust.messages) checkMessage(m);
  for (const e of rust.ecies) {
    assert.equal(plainHex(eciesDecrypt(e.recipientPrivateKey.slice(2), bytes(e.ciphertext))), e.plaintext);
  }
});

test('messages signed by ethers, for Rust to verify', () => {
  assert.ok(process.env.RIVULET_ETHERS_OUT, 'set RIVULET_ETHERS_OUT (cargo xtask test does)');
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
  const word = (n) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');
  const messages = [];
  for (let i = 0; i < 50; i++) {
    const wallet = Wallet.createRandom();
    const encrypted = i % 3 === 0;
    const m = {
      streamId: `${wallet.address.toLowerCase()}/${word(1 + randomInt(20))}/${word(1 + randomInt(8))}`,
      partition: randomInt(100),
      timestamp: (BigInt(Date.now()) + BigInt(randomInt(1e9))).toString(),
      sequenceNumber: randomInt(2 ** 32 - 1),
      chainId: word(1 + randomInt(64)),
      prev: i % 2 ? { timestamp: randomInt(2 ** 40).toString(), sequenceNumber: randomInt(1000) } : null,
      messageType: randomInt(3),
      contentType: encrypted ? 1 : randomInt(2),
      groupKeyId: encrypted ? word(1 + randomInt(128)) : null,
      newGroupKey: i % 5 === 0 ? { id: word(8), data: plainHex(randomBytes(60)) } : null,
      content: '',
    };
    m.content = m.contentType === 0 && !encrypted
      ? plainHex(toUtf8Bytes(JSON.stringify({ i, v: Math.random(), s: word(randomInt(300)) })))
      : plainHex(randomBytes(randomInt(2000)));
    const body = encodeBody(m, wallet.address);
    const signature = wallet.signMessageSync(getBytes(concat([DOMAIN, body])));
    messages.push({ address: wallet.address, wire: plainHex(concat([body, signature])) });
  }
  const recipient = Wallet.createRandom();
  const ecies = Array.from({ length: 10 }, () => {
    const plaintext = randomBytes(1 + randomInt(64));
    const ciphertext = eciesEncrypt(recipient.signingKey.publicKey.slice(2), plaintext);
    return { recipientPrivateKey: recipient.privateKey, plaintext: plainHex(plaintext), ciphertext: plainHex(ciphertext) };
  });
  writeFileSync(process.env.RIVULET_ETHERS_OUT, JSON.stringify({ messages, ecies }, null, 1));
});

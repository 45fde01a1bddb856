"""The relay node's HTTP and WebSocket APIs from Python, as a developer in another language would use them.

Everything here is written from API.md and PROTOCOL.md: the wire format is encoded by hand, events and
the sign-in challenge are signed by eth-account (EIP-191), the WebSocket client is `websockets`. Run by
`cargo xtask test` against its local network (config.json in RIVULET_CONFIG).
"""

import asyncio
import json
import os
import struct
import time
import unittest
import urllib.error
import urllib.request

import websockets
from eth_account import Account
from eth_account.messages import encode_defunct

CONFIG = json.load(open(os.environ["RIVULET_CONFIG"]))
HTTP = CONFIG["nodeHttp"][0]
OTHER_HTTP = CONFIG["nodeHttp"][1]
STREAM = CONFIG["demo"]["stream"]  # anyone may publish and subscribe

SIGNED_PREFIX = b"Rivulet message v1:\n"


def short(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def encode_body(publisher: str, chain: str, timestamp: int, seq: int, prev, content: bytes) -> bytes:
    """The body of a plain JSON data message, field by field as PROTOCOL.md lists them."""
    body = bytes([1]) + short(STREAM.encode()) + bytes([0])  # version, stream id, partition 0
    body += struct.pack(">QI", timestamp, seq) + bytes.fromhex(publisher[2:])
    body += short(chain.encode())
    body += b"\x01" + struct.pack(">QI", *prev) if prev else b"\x00"
    body += bytes([0, 0, 0])  # data, JSON, not encrypted
    body += b"\x00"  # no new group key
    body += b"\x01"  # signature type: EIP-191 secp256k1
    return body + struct.pack(">I", len(content)) + content


def sign_body(account, body: bytes) -> bytes:
    signed = Account.sign_message(encode_defunct(primitive=SIGNED_PREFIX + body), account.key)
    return bytes(signed.signature)


def event(account, chain, timestamp, seq, prev, content) -> bytes:
    body = encode_body(account.address, chain, timestamp, seq, prev, json.dumps(content).encode())
    return body + sign_body(account, body)


def publisher_of(wire: bytes) -> str:
    """Recovers the signer of a wire message, as a client that does not trust nodes should."""
    return Account.recover_message(encode_defunct(primitive=SIGNED_PREFIX + wire[:-65]), signature=wire[-65:])


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None):
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class HttpApi(unittest.TestCase):
    def test_publish_then_read_back_verified(self):
        account = Account.create()
        now = int(time.time() * 1000)
        first = event(account, "py-http", now, 0, None, {"python": 1})
        status, answer = http("POST", HTTP + "/api/v1/publish", first, "application/octet-stream")
        self.assertEqual(status, 200, answer)
        self.assertFalse(answer["duplicate"])
        second = event(account, "py-http", now, 1, (now, 0), {"python": 2})
        status, answer = http("POST", HTTP + "/api/v1/publish", json.dumps({"message": second.hex()}).encode(), "application/json")
        self.assertEqual(status, 200, answer)
        status, answer = http("POST", HTTP + "/api/v1/publish", first, "application/octet-stream")
        self.assertEqual((status, answer["duplicate"]), (200, True))

        # The storage node has both, in order; their signatures recover to this account.
        deadline = time.time() + 20
        while True:
            status, history = http("GET", f"{OTHER_HTTP}/api/v1/history?stream={STREAM}&partition=0&last=50")
            self.assertEqual(status, 200, history)
            mine = [m for m in history["messages"] if m["chainId"] == "py-http" and m["publisher"] == account.address]
            if len(mine) == 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual([m["content"] for m in mine], [{"python": 1}, {"python": 2}])
        self.assertEqual(mine[1]["prev"], {"timestamp": now, "sequenceNumber": 0})
        for m in mine:
            self.assertEqual(publisher_of(bytes.fromhex(m["wire"])), account.address)

    def test_refusals_say_what_and_why(self):
        account = Account.create()
        wire = bytearray(event(account, "py-bad", int(time.time() * 1000), 0, None, {"x": 1}))
        wire[-30] ^= 1  # inside s
        status, answer = http("POST", HTTP + "/api/v1/publish", bytes(wire), "application/octet-stream")
        self.assertEqual((status, answer["error"]), (403, "bad_signature"), answer)
        status, answer = http("POST", HTTP + "/api/v1/publish", b"\x01\x02", "application/octet-stream")
        self.assertEqual((status, answer["error"]), (400, "malformed"), answer)
        status, answer = http("GET", HTTP + "/api/v1/history?stream=x&partition=zero")
        self.assertEqual((status, answer["error"]), (400, "bad_query"), answer)
        status, answer = http("GET", f"{HTTP}/api/v1/history?stream={STREAM}&partition=200&last=1")
        self.assertEqual((status, answer["error"]), (400, "bad_stream"), answer)
        self.assertIn("partition 200 is out of range", answer["message"])
        status, answer = http("GET", HTTP + "/api/v1/publish")
        self.assertEqual((status, answer["error"]), (405, "method_not_allowed"), answer)
        self.assertIn("POST", answer["message"])


class WebSocketApi(unittest.TestCase):
    def test_sign_in_subscribe_publish_and_close(self):
        asyncio.run(self.session())

    async def session(self):
        account = Account.create()
        url = HTTP.replace("http://", "ws://") + "/api/v1/ws"
        async with websockets.connect(url) as ws:
            challenge = json.loads(await ws.recv())
            self.assertEqual(challenge["type"], "challenge")
            signature = Account.sign_message(encode_defunct(text=challenge["text"]), account.key).signature
            await ws.send(json.dumps({"type": "auth", "address": account.address, "signature": "0x" + bytes(signature).hex()}))
            self.assertEqual(json.loads(await ws.recv()), {"type": "authenticated", "address": account.address})
            await ws.send(json.dumps({"type": "subscribe", "stream": STREAM, "partition": 0, "id": "sub"}))
            self.assertEqual(json.loads(await ws.recv())["type"], "subscribed")

            now = int(time.time() * 1000)
            wires = [event(account, "py-ws", now, 0, None, {"n": 0}), event(account, "py-ws", now, 1, (now, 0), {"n": 1})]
            forged = bytearray(wires[0])
            forged[-30] ^= 1
            for i, wire in enumerate(wires + [bytes(forged)]):
                await ws.send(json.dumps({"type": "publish", "id": i, "message": wire.hex()}))
            await ws.send("not json")

            answers, events, errors = {}, [], []
            while len(answers) < 2 or len(events) < 2 or len(errors) < 2:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["type"] == "published":
                    answers[frame["id"]] = frame
                elif frame["type"] == "message" and frame["message"]["publisher"] == account.address:
                    events.append(frame["message"])
                elif frame["type"] == "error":
                    errors.append(frame)
            self.assertEqual(sorted(answers), [0, 1])
            self.assertEqual([e["content"] for e in events], [{"n": 0}, {"n": 1}])
            self.assertEqual([bytes.fromhex(e["wire"]) for e in events], wires)
            self.assertEqual({(e["error"], e["id"]) for e in errors}, {("bad_signature", 2), ("bad_frame", None)})
            await ws.close()
            # The node answered the close handshake (RFC 6455): its close frame carries 1000.
            self.assertEqual(ws.close_code, 1000)

    def test_events_as_wire_bytes_both_ways(self):
        asyncio.run(self.wire_session())

    async def wire_session(self):
        """Binary frames: a publish is an event's wire bytes, and a subscription with "format": "wire"
        gets each event as exactly the bytes its publisher signed."""
        account = Account.create()
        url = OTHER_HTTP.replace("http://", "ws://") + "/api/v1/ws"
        async with websockets.connect(url) as ws:
            self.assertEqual(json.loads(await ws.recv())["type"], "challenge")
            await ws.send(json.dumps({"type": "subscribe", "stream": STREAM, "format": "wire"}))
            self.assertEqual(json.loads(await ws.recv())["type"], "subscribed")

            now = int(time.time() * 1000)
            wires = [event(account, "py-wire", now, 0, None, {"n": 0}), event(account, "py-wire", now, 1, (now, 0), {"n": 1})]
            await ws.send(wires[0])  # bytes: a binary frame
            await ws.send(json.dumps({"type": "publish", "id": "hex", "message": wires[1].hex()}))

            answers, events = [], []
            while len(answers) < 2 or len(events) < 2:
                frame = await asyncio.wait_for(ws.recv(), 15)
                if isinstance(frame, bytes):
                    if publisher_of(frame) == account.address:
                        events.append(frame)
                else:
                    answer = json.loads(frame)
                    self.assertEqual(answer["type"], "published", answer)
                    answers.append(answer.get("id"))
            self.assertEqual(answers, [None, "hex"])  # in the order they were sent
            self.assertEqual(events, wires)
            await ws.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

//! `broker-load`: the load generator for the plain brokers that `cargo xtask bench-compare` measures
//! Rivulet against — NATS (core protocol) and MQTT 3.1.1 at QoS 0 (mosquitto). Built in release by the
//! harness; std only, so what it measures is the broker and the sockets, not a client library.
//!
//! One publisher connection and `--subscribers` subscriber connections, each on its own thread. Every
//! payload carries its index and its send time (nanoseconds since the run's start; one process, one
//! clock), padded to `--payload` bytes. The publisher writes as fast as the socket takes the bytes (one
//! buffered write per 256 KiB) or, with `--rate`, one flushed message at a time on schedule; it ends with
//! a round trip (NATS `PING`/`PONG`, MQTT `PINGREQ`/`PINGRESP`) so that "published" means "the broker has
//! read them all". Prints one JSON object in the shape of `relay-node bench`'s. Bounded in count and time:
//! subscribers stop after `--count` messages, or 2 s after the publisher finished, or at `--timeout-secs`.

use std::{
    io::{BufRead, BufReader, BufWriter, Read, Write},
    net::TcpStream,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::json;

/// Settings of one run, from the command line.
struct Args {
    protocol: Protocol,
    addr: String,
    subscribers: usize,
    payload: usize,
    count: usize,
    rate: u32,
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Nats,
    Mqtt,
}

const SUBJECT: &str = "bench";
const BUFFER: usize = 256 * 1024;

fn parse_args() -> Result<Args> {
    let mut args = Args {
        protocol: Protocol::Nats,
        addr: String::new(),
        subscribers: 1,
        payload: 200,
        count: 100_000,
        rate: 0,
        timeout: Duration::from_secs(30),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--protocol" => {
                args.protocol = match value.as_str() {
                    "nats" => Protocol::Nats,
                    "mqtt" => Protocol::Mqtt,
                    other => bail!("--protocol nats|mqtt, not {other}"),
                }
            }
            "--addr" => args.addr = value,
            "--subscribers" => args.subscribers = value.parse()?,
            "--payload" => args.payload = value.parse()?,
            "--count" => args.count = value.parse()?,
            "--rate" => args.rate = value.parse()?,
            "--timeout-secs" => args.timeout = Duration::from_secs(value.parse()?),
            other => bail!(
                "unknown flag {other}; usage: broker-load --protocol nats|mqtt --addr 127.0.0.1:PORT \
                 [--subscribers 1] [--payload 200] [--count 100000] [--rate 0] [--timeout-secs 30]"
            ),
        }
    }
    if args.addr.is_empty() {
        bail!("--addr 127.0.0.1:PORT is needed");
    }
    if args.payload < 16 {
        bail!("--payload must be at least 16 bytes (index and send time)");
    }
    Ok(args)
}

fn connect(addr: &str) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// MQTT's variable-length "remaining length".
fn mqtt_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

fn mqtt_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn mqtt_packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    mqtt_length(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// Reads one MQTT packet: its type byte and body.
fn mqtt_read(reader: &mut impl Read, body: &mut Vec<u8>) -> std::io::Result<u8> {
    let mut byte = [0u8; 1];
    reader.read_exact(&mut byte)?;
    let kind = byte[0];
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let mut b = [0u8; 1];
        reader.read_exact(&mut b)?;
        len |= usize::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    body.resize(len, 0);
    reader.read_exact(body)?;
    Ok(kind)
}

/// Opens a connection and, for a subscriber, subscribes; returns once the broker has confirmed.
fn open(args: &Args, id: &str, subscribe: bool) -> Result<(BufReader<TcpStream>, TcpStream)> {
    let stream = connect(&args.addr)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(BUFFER, stream.try_clone()?);
    match args.protocol {
        Protocol::Nats => {
            let mut line = String::new();
            reader.read_line(&mut line)?; // INFO
            let mut hello = String::from(
                "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"name\":\"",
            );
            hello.push_str(id);
            hello.push_str("\"}\r\n");
            if subscribe {
                hello.push_str(&format!("SUB {SUBJECT} 1\r\n"));
            }
            hello.push_str("PING\r\n");
            writer.write_all(hello.as_bytes())?;
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    bail!("the NATS server closed the connection");
                }
                if line.starts_with("PONG") {
                    break;
                }
                if line.starts_with("-ERR") {
                    bail!("NATS: {}", line.trim());
                }
            }
        }
        Protocol::Mqtt => {
            let mut body = Vec::new();
            mqtt_string(&mut body, "MQTT");
            body.extend_from_slice(&[4, 0x02, 0, 60]); // 3.1.1, clean session, keep-alive 60 s
            mqtt_string(&mut body, id);
            writer.write_all(&mqtt_packet(0x10, &body))?;
            let mut answer = Vec::new();
            if mqtt_read(&mut reader, &mut answer)? != 0x20 || answer.get(1) != Some(&0) {
                bail!("MQTT broker refused the connection: {answer:?}");
            }
            if subscribe {
                let mut body = vec![0, 1];
                mqtt_string(&mut body, SUBJECT);
                body.push(0); // QoS 0
                writer.write_all(&mqtt_packet(0x82, &body))?;
                if mqtt_read(&mut reader, &mut answer)? != 0x90 || answer.get(2) != Some(&0) {
                    bail!("MQTT broker refused the subscription: {answer:?}");
                }
            }
        }
    }
    Ok((reader, writer))
}

/// What one subscriber saw: latencies (ms) of the messages it got, and when it got the last.
struct Received {
    latencies: Vec<f64>,
    last: Instant,
}

/// Reads messages until `count`, or until the main thread shuts the socket down (after 2 s without
/// progress once the publisher is done, or at the deadline). `progress` counts what it got, now and then.
fn subscribe(
    args: &Args,
    mut reader: BufReader<TcpStream>,
    mut writer: TcpStream,
    start: Instant,
    progress: &AtomicUsize,
) -> Received {
    let mut latencies = Vec::with_capacity(args.count);
    let mut last = start;
    let mut line = Vec::new();
    let mut body = Vec::new();
    while latencies.len() < args.count {
        let payload: &[u8] = match read_message(args.protocol, &mut reader, &mut line, &mut body) {
            Ok(Some(payload_at)) => &body[payload_at..],
            Ok(None) => {
                if line.starts_with(b"PING") && writer.write_all(b"PONG\r\n").is_err() {
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        let now = Instant::now();
        let mut sent_ns = [0u8; 8];
        sent_ns.copy_from_slice(&payload[8..16]);
        let sent = start + Duration::from_nanos(u64::from_be_bytes(sent_ns));
        latencies.push(now.saturating_duration_since(sent).as_secs_f64() * 1000.0);
        last = now;
        if latencies.len() % 256 == 0 {
            progress.store(latencies.len(), Ordering::Relaxed);
        }
    }
    progress.store(latencies.len(), Ordering::Relaxed);
    Received { latencies, last }
}

/// Reads one frame; `Some(offset)` of a message's payload in `body`, `None` for anything else.
fn read_message(
    protocol: Protocol,
    reader: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
    body: &mut Vec<u8>,
) -> std::io::Result<Option<usize>> {
    match protocol {
        Protocol::Nats => {
            line.clear();
            if reader.read_until(b'\n', line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if !line.starts_with(b"MSG ") {
                return Ok(None);
            }
            // MSG <subject> <sid> [reply-to] <size>\r\n<payload>\r\n
            let size = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.trim_end().rsplit(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or(std::io::ErrorKind::InvalidData)?;
            body.resize(size + 2, 0);
            reader.read_exact(body)?;
            body.truncate(size);
            Ok((size >= 16).then_some(0))
        }
        Protocol::Mqtt => {
            line.clear();
            if mqtt_read(reader, body)? >> 4 != 3 {
                return Ok(None);
            }
            // PUBLISH at QoS 0: topic (length-prefixed), then the payload.
            let topic = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let at = 2 + topic;
            Ok((body.len() >= at + 16).then_some(at))
        }
    }
}

/// Publishes `count` messages; returns when the broker has read them all.
fn publish(
    args: &Args,
    mut reader: BufReader<TcpStream>,
    writer: TcpStream,
    start: Instant,
) -> Result<Instant> {
    let mut out = BufWriter::with_capacity(BUFFER, writer);
    let mut payload = vec![0x5au8; args.payload];
    let header = match args.protocol {
        Protocol::Nats => format!("PUB {SUBJECT} {}\r\n", args.payload).into_bytes(),
        Protocol::Mqtt => {
            let mut h = vec![0x30];
            mqtt_length(&mut h, 2 + SUBJECT.len() + args.payload);
            mqtt_string(&mut h, SUBJECT);
            h
        }
    };
    let trailer: &[u8] = match args.protocol {
        Protocol::Nats => b"\r\n",
        Protocol::Mqtt => b"",
    };
    for i in 0..args.count {
        if args.rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / f64::from(args.rate));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let sent = start.elapsed().as_nanos() as u64;
        payload[8..16].copy_from_slice(&sent.to_be_bytes());
        out.write_all(&header)?;
        out.write_all(&payload)?;
        out.write_all(trailer)?;
        if args.rate > 0 {
            out.flush()?;
        }
    }
    // A round trip: the broker answers it after reading everything before it.
    match args.protocol {
        Protocol::Nats => out.write_all(b"PING\r\n")?,
        Protocol::Mqtt => out.write_all(&[0xc0, 0])?,
    }
    out.flush()?;
    let mut line = Vec::new();
    let mut body = Vec::new();
    loop {
        match args.protocol {
            Protocol::Nats => {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    bail!("the NATS server closed the publisher's connection");
                }
                if line.starts_with(b"PONG") {
                    break;
                }
            }
            Protocol::Mqtt => {
                if mqtt_read(&mut reader, &mut body)? == 0xd0 {
                    break;
                }
            }
        }
    }
    Ok(Instant::now())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let mut subscribers = Vec::new();
    for i in 0..args.subscribers {
        subscribers.push(open(&args, &format!("bench-sub-{i}"), true)?);
    }
    let (pub_reader, pub_writer) = open(&args, "bench-pub", false)?;
    pub_reader.get_ref().set_read_timeout(Some(args.timeout))?;
    pub_writer.set_write_timeout(Some(args.timeout))?;
    let progress: Vec<AtomicUsize> = (0..args.subscribers).map(|_| AtomicUsize::new(0)).collect();
    let sockets: Vec<TcpStream> = subscribers
        .iter()
        .map(|(_, writer)| writer.try_clone())
        .collect::<std::io::Result<_>>()?;
    let start = Instant::now();
    let deadline = start + args.timeout;
    let (published_at, received) = std::thread::scope(|scope| {
        let handles: Vec<_> = subscribers
            .into_iter()
            .zip(&progress)
            .map(|((reader, writer), progress)| {
                let args = &args;
                scope.spawn(move || subscribe(args, reader, writer, start, progress))
            })
            .collect();
        let published = publish(&args, pub_reader, pub_writer, start);
        // Subscribers still short of everything after 2 s without progress, or at the deadline, are
        // stopped by closing their sockets.
        let total = || {
            progress
                .iter()
                .map(|p| p.load(Ordering::Relaxed))
                .sum::<usize>()
        };
        let (mut seen, mut moved_at) = (total(), Instant::now());
        while Instant::now() < deadline
            && moved_at.elapsed() < Duration::from_secs(2)
            && !handles.iter().all(|h| h.is_finished())
        {
            std::thread::sleep(Duration::from_millis(10));
            if total() != seen {
                (seen, moved_at) = (total(), Instant::now());
            }
        }
        for socket in &sockets {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        let received: Vec<Option<Received>> = handles.into_iter().map(|h| h.join().ok()).collect();
        (published, received)
    });
    let published_at = published_at?;
    let mut all = Vec::new();
    let mut last = start;
    for r in received {
        let r = r.context("a subscriber panicked")?;
        last = last.max(r.last);
        all.extend(r.latencies);
    }
    all.sort_by(f64::total_cmp);
    let delivered = all.len();
    let deliver_secs = last.duration_since(start).as_secs_f64().max(f64::EPSILON);
    let publish_secs = published_at
        .duration_since(start)
        .as_secs_f64()
        .max(f64::EPSILON);
    let report = json!({
        "protocol": match args.protocol { Protocol::Nats => "nats", Protocol::Mqtt => "mqtt" },
        "payloadBytes": args.payload,
        "rate": if args.rate == 0 { json!("max") } else { json!(args.rate) },
        "subscribers": args.subscribers,
        "events": args.count,
        "publishedPerSecond": (args.count as f64 / publish_secs).round(),
        "deliveriesPerSecond": (delivered as f64 / deliver_secs).round(),
        "delivered": delivered,
        "lost": (args.count * args.subscribers).saturating_sub(delivered),
        "latencyMs": { "p50": percentile(&all, 0.5), "p99": percentile(&all, 0.99), "max": all.last().copied().unwrap_or(0.0) },
    });
    println!("{report}");
    Ok(())
}

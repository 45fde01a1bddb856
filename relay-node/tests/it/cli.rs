//! The client subcommands against a real chain and a real node: create a stream, grant, publish JSON lines,
//! subscribe, resend, show, search — the way an operator's script would.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
};

use rivulet_deploy::dev::DEV_KEYS;
use rivulet_protocol::Signer;
use serde_json::Value;

use crate::support::{World, start_node};

fn cli(args: &[&str], world: &World, stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay-node"))
        .args(args)
        .env("RIVULET_DEPLOYMENT", &world.deployment_file)
        .env("RIVULET_KEY_VAULT", world.dir.path().join("keys"))
        .env_remove("RIVULET_PRIVATE_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_script_end_to_end() {
    let world = World::new().await;
    let owner = DEV_KEYS[1];
    let device = Signer::from_bytes(&[5; 32]).unwrap();
    let device_key = hex::encode(device.to_bytes());

    let (ok, out, err) = cli(
        &[
            "stream",
            "create",
            "cli/feed",
            "--name",
            "CLI feed",
            "--private-key",
            owner,
        ],
        &world,
        None,
    );
    assert!(ok, "{err}");
    let stream = lines(&out)[0]["streamId"].as_str().unwrap().to_owned();
    let (ok, _, err) = cli(
        &[
            "grant",
            &stream,
            &device.address().to_string(),
            "publish",
            "--private-key",
            owner,
        ],
        &world,
        None,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = cli(
        &[
            "grant",
            &stream,
            "public",
            "subscribe",
            "--private-key",
            owner,
        ],
        &world,
        None,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = cli(
        &["grant", &stream, "public", "fly", "--private-key", owner],
        &world,
        None,
    );
    assert!(!ok && err.contains("unknown permission"), "{err}");

    let node = start_node(
        &world.dir.path().join("n"),
        &world.deployment_file,
        &["--storage.part", &format!("{stream}#0")],
    );

    // A subscriber waiting for three events.
    let mut sub = Command::new(env!("CARGO_BIN_EXE_relay-node"))
        .args(["subscribe", &stream, "--count", "3", "--node", &node.http])
        .env("RIVULET_DEPLOYMENT", &world.deployment_file)
        .env("RIVULET_KEY_VAULT", world.dir.path().join("keys"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sub_err = BufReader::new(sub.stderr.take().unwrap());
    let mut first = String::new();
    while !first.contains("subscribed") {
        first.clear();
        assert!(
            sub_err.read_line(&mut first).unwrap() > 0,
            "the subscriber ended"
        );
    }

    // Three events and one line that is not JSON.
    let input = "{\"t\":1}\nnot json\n{\"t\":2}\n{\"t\":3}\n";
    let (ok, out, err) = cli(
        &[
            "publish",
            &stream,
            "--node",
            &node.http,
            "--private-key",
            &device_key,
        ],
        &world,
        Some(input),
    );
    assert!(ok, "{err}");
    assert!(err.contains("line 2: not JSON"), "{err}");
    assert_eq!(lines(&out).len(), 3);
    assert!(lines(&out).iter().all(|r| r["stored"] == true));

    let got = tokio::task::spawn_blocking(move || sub.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(got.status.success());
    let events = lines(&String::from_utf8(got.stdout).unwrap());
    assert_eq!(
        events
            .iter()
            .map(|e| e["content"]["t"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        events
            .iter()
            .all(|e| e["publisher"] == device.address().to_checksum())
    );

    let (ok, out, _) = cli(
        &["resend", &stream, "--last", "10", "--node", &node.http],
        &world,
        None,
    );
    assert!(ok);
    assert_eq!(lines(&out).len(), 3);
    let (ok, out, _) = cli(&["stream", "show", &stream], &world, None);
    assert!(ok);
    assert_eq!(lines(&out)[0]["metadata"]["name"], "CLI feed");
    let (ok, out, _) = cli(&["stream", "search", "cli FEED"], &world, None);
    assert!(ok);
    assert_eq!(lines(&out).len(), 1);

    // The owner lists the stream on the marketplace (the marketplace gets grant on it first).
    let (ok, out, err) = cli(
        &[
            "product",
            "create",
            "--stream",
            &stream,
            "--price-per-second",
            "1000",
            "--minimum-seconds",
            "30",
            "--name",
            "CLI feed",
            "--category",
            "test",
            "--private-key",
            owner,
        ],
        &world,
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(lines(&out)[0]["productId"], 1);
    let (ok, out, _) = cli(&["product", "list"], &world, None);
    assert!(ok);
    let products = lines(&out);
    assert_eq!(products.len(), 1);
    assert_eq!(products[0]["pricePerSecond"], "1000");
    assert_eq!(products[0]["metadata"]["name"], "CLI feed");
    assert_eq!(products[0]["streams"][0], stream.as_str());
    let (ok, _, err) = cli(
        &[
            "product",
            "create",
            "--stream",
            &stream,
            "--price-per-second",
            "lots",
            "--name",
            "x",
            "--private-key",
            owner,
        ],
        &world,
        None,
    );
    assert!(!ok && err.contains("--price-per-second"), "{err}");

    // Mistakes are explained.
    let (ok, _, err) = cli(
        &["publish", &stream, "--node", &node.http],
        &world,
        Some("{}\n"),
    );
    assert!(!ok && err.contains("--private-key"), "{err}");
    let mallory = hex::encode([6u8; 32]);
    let (ok, _, err) = cli(
        &[
            "publish",
            &stream,
            "--node",
            &node.http,
            "--private-key",
            &mallory,
        ],
        &world,
        Some("{}\n"),
    );
    assert!(!ok && err.contains("may not publish"), "{err}");
    let (ok, _, err) = cli(
        &["publish", "not-a-stream", "--private-key", &mallory],
        &world,
        None,
    );
    assert!(!ok && err.contains("stream id"), "{err}");
    // A stream that is not public: the command line encrypts without being asked, its reader decrypts,
    // others read nothing.
    let (ok, out, err) = cli(
        &["stream", "create", "cli/secret", "--private-key", owner],
        &world,
        None,
    );
    assert!(ok, "{err}");
    let secret = lines(&out)[0]["streamId"].as_str().unwrap().to_owned();
    let reader = DEV_KEYS[2];
    let reader_address = Signer::from_hex(reader).unwrap().address().to_string();
    for (who, what) in [
        (device.address().to_string(), "publish"),
        (reader_address, "subscribe"),
    ] {
        let (ok, _, err) = cli(
            &["grant", &secret, &who, what, "--private-key", owner],
            &world,
            None,
        );
        assert!(ok, "{err}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // The reader waits for one event; the publisher stays up (its stdin open) to answer for the key.
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_relay-node"))
            .args(args)
            .env("RIVULET_DEPLOYMENT", &world.deployment_file)
            .env("RIVULET_KEY_VAULT", world.dir.path().join("keys"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut reading = spawn(&[
        "subscribe",
        &secret,
        "--count",
        "1",
        "--node",
        &node.http,
        "--private-key",
        reader,
    ]);
    let mut reading_err = BufReader::new(reading.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("subscribed") {
        line.clear();
        assert!(
            reading_err.read_line(&mut line).unwrap() > 0,
            "the reader ended"
        );
    }
    let mut publishing = spawn(&[
        "publish",
        &secret,
        "--node",
        &node.http,
        "--private-key",
        &device_key,
    ]);
    let mut to_publish = publishing.stdin.take().unwrap();
    to_publish.write_all(b"{\"secret\":42}\n").unwrap();
    let mut published = String::new();
    BufReader::new(publishing.stdout.take().unwrap())
        .read_line(&mut published)
        .unwrap();
    assert_eq!(lines(&published)[0]["encrypted"], true, "{published}");
    let read = tokio::task::spawn_blocking(move || reading.wait_with_output().unwrap())
        .await
        .unwrap();
    drop(to_publish);
    publishing.wait().unwrap();
    let read = lines(&String::from_utf8(read.stdout).unwrap());
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["content"]["secret"], 42, "decrypted");
    assert_eq!(read[0]["encrypted"], true);
    let (ok, _, err) = cli(
        &[
            "subscribe",
            &secret,
            "--count",
            "1",
            "--node",
            &node.http,
            "--private-key",
            &mallory,
        ],
        &world,
        None,
    );
    assert!(!ok && err.contains("NO_PERMISSION"), "{err}");
}

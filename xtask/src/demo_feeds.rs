//! The local network's helpers that run beside it: the server-side demo publishers (simulated
//! weather and traffic fed to `relay-node publish`) and the static web server for the site.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cmd::KillOnDrop;

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

/// Simulated weather at second `t`.
pub(crate) fn weather_reading(t: f64) -> Value {
    json!({
        "temperature": ((20.0 + 3.0 * (t / 30.0).sin() + 0.2 * (t * 1.7).sin()) * 100.0).round() / 100.0,
        "humidity": ((55.0 + 10.0 * (t / 45.0).cos()) * 10.0).round() / 10.0,
        "windSpeed": ((4.0 + 2.5 * (t / 7.0).sin().abs()) * 10.0).round() / 10.0,
    })
}

/// Simulated vehicles per minute at three crossings at second `t`.
pub(crate) fn traffic_reading(t: f64) -> Value {
    let wave = |phase: f64, base: f64| (base + base * 0.4 * ((t + phase) / 20.0).sin()).round();
    json!({ "north": wave(0.0, 40.0), "harbour": wave(7.0, 25.0), "station": wave(13.0, 60.0) })
}

/// A server-side demo publisher: `relay-node publish` with `key`, fed `reading(t)` twice a second.
pub(crate) fn start_publisher(
    bins: &Path,
    node_http: &str,
    (stream, key): (&str, &str),
    deployment: &Path,
    log: &Path,
    reading: fn(f64) -> Value,
) -> Result<KillOnDrop> {
    let mut child = Command::new(bins.join("relay-node"))
        .args(["publish", stream, "--node", node_http])
        .args(["--private-key", key])
        .args(["--chain.deployment", path_str(deployment)?])
        // Its group keys (the traffic stream is private, so its events are encrypted) stay with the
        // network's files, so a restarted publisher serves the keys of its earlier events.
        .args(["--key-vault", path_str(&log.with_file_name("keys"))?])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log)?))
        .spawn()
        .context("cannot start a demo publisher")?;
    let mut stdin = child.stdin.take().context("publisher has no stdin")?;
    std::thread::spawn(move || {
        let mut t = 0f64;
        loop {
            t += 0.5;
            if writeln!(stdin, "{}", reading(t)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    Ok(KillOnDrop(child))
}

/// Serves `site` on 127.0.0.1:`port` (0: any) with Python's static server (it serves `.wasm` as
/// `application/wasm`).
pub(crate) fn start_web(site: &Path, port: u16, log: &Path) -> Result<(KillOnDrop, String)> {
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--directory")
        .arg(site)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log)?))
        .spawn()
        .context("cannot start python3's http.server (is python3 installed?)")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let guard = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // "Serving HTTP on 127.0.0.1 port 8080 (http://127.0.0.1:8080/) ..."
            if let Some(url) = line.split('(').nth(1).and_then(|r| r.split(')').next())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(15)).with_context(|| {
        format!(
            "the web server did not start on 127.0.0.1:{port} (is the port taken? see {})",
            log.display()
        )
    })?;
    Ok((guard, url))
}

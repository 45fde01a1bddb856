//! The plain brokers: Debian's `nats-server` and `mosquitto`, each started on a free loopback port for
//! the run and measured by `broker-load` (xtask's second binary) in the same shapes as Rivulet's one node.

use std::{
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::machine::measured;
use crate::cmd::{KillOnDrop, capture, output, run, step};

/// The Debian packages and the programs they install.
const PACKAGES: [(&str, &str); 2] = [
    ("nats-server", "/usr/sbin/nats-server"),
    ("mosquitto", "/usr/sbin/mosquitto"),
];

/// One measurement of a broker: its name in the results, subscribers, messages, rate (0: flat out).
pub(super) const RUNS: [(&str, usize, usize, u32); 5] = [
    ("1to1_max", 1, 500_000, 0),
    ("1to10_max", 10, 100_000, 0),
    ("1to100_max", 100, 20_000, 0),
    ("1to1_paced", 1, 5_000, 1_000),
    ("1to10_paced", 10, 5_000, 1_000),
];

/// Installs the brokers from Debian when they are missing (as root), else says what to install.
pub(super) fn setup() -> Result<()> {
    step("nats-server and mosquitto (Debian packages)", || {
        let missing: Vec<&str> = PACKAGES
            .iter()
            .filter(|(_, bin)| !Path::new(bin).exists())
            .map(|(package, _)| *package)
            .collect();
        if missing.is_empty() {
            eprintln!("nats-server and mosquitto already installed");
            return Ok(());
        }
        if output("id", &["-u"])?.trim() != "0" {
            bail!(
                "missing {}: run `sudo apt-get install -y {}` (Debian) and try again",
                missing.join(", "),
                missing.join(" ")
            );
        }
        run("apt-get", &["update", "-qq"])?;
        // The packages' service scripts are not wanted (and cannot start without systemd): the bench
        // starts its own instances on loopback.
        run(
            "apt-get",
            &[&["install", "-y", "-qq"], &missing[..]].concat(),
        )
    })
}

/// The versions of the installed brokers.
pub(super) fn versions() -> Value {
    let first_line = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    json!({
        "nats-server": first_line(PACKAGES[0].1, "--version"),
        "mosquitto": first_line(PACKAGES[1].1, "-h"),
    })
}

/// A free TCP port on 127.0.0.1 (free when asked; the broker takes it right after).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections at `addr`.
fn wait_listening(addr: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on {addr}; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts a broker on a free loopback port; returns it with its address.
fn start(name: &str, dir: &Path) -> Result<(KillOnDrop, String)> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let log = dir.join(format!("{name}.log"));
    let mut cmd = match name {
        "nats" => {
            let mut cmd = Command::new(PACKAGES[0].1);
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
            cmd
        }
        _ => {
            // Nagle's algorithm off, as NATS and Rivulet have it: without it mosquitto's latency at
            // 1,000 msg/s was ~8 ms at the median, all of it waiting for ACKs.
            let config = dir.join("mosquitto.conf");
            std::fs::write(
                &config,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n\
                     log_type error\nlog_type warning\n"
                ),
            )?;
            let mut cmd = Command::new(PACKAGES[1].1);
            cmd.arg("-c").arg(&config);
            cmd
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log)?))
        .stderr(Stdio::from(std::fs::File::create(
            dir.join(format!("{name}.err")),
        )?))
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let guard = KillOnDrop(child);
    wait_listening(&addr, &log)?;
    Ok((guard, addr))
}

/// Measures NATS and mosquitto, one after the other; each run's JSON (from `broker-load`) with the
/// machine's load during it, by broker and run name. `wait`: see [`measured`].
pub(super) fn measure(load: &Path, dir: &Path, wait: bool) -> Result<Value> {
    let mut all = Map::new();
    for (name, protocol) in [("nats", "nats"), ("mosquitto", "mqtt")] {
        let (_broker, addr) = start(name, dir)?;
        let mut runs = Map::new();
        for (run_name, subscribers, count, rate) in RUNS {
            let result = measured(&format!("{name} {run_name}"), wait, |_| {
                let out = capture(
                    load,
                    &[
                        "--protocol",
                        protocol,
                        "--addr",
                        &addr,
                        "--subscribers",
                        &subscribers.to_string(),
                        "--count",
                        &count.to_string(),
                        "--rate",
                        &rate.to_string(),
                        "--payload",
                        "200",
                        "--timeout-secs",
                        "30",
                    ],
                )?;
                serde_json::from_str(out.trim())
                    .with_context(|| format!("broker-load printed {out:?}"))
            })?;
            runs.insert(run_name.to_owned(), result);
        }
        all.insert(name.to_owned(), Value::Object(runs));
    }
    Ok(Value::Object(all))
}

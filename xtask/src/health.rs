//! Asking relay nodes how they are over plain HTTP/1.0 (xtask has no HTTP client): their `/health`
//! and `/metrics` (parsed by series),
//! and waiting until the coordinator's assignment has settled on them.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Waits until every node says in `/health` that it serves each of `parts` (registered, assigned by a
/// rebalance, history copied).
pub(crate) fn wait_until_serving(nodes: &[&str], parts: &[String], within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let mut missing = Vec::new();
        for node in nodes {
            let health = http_get(node, "/health").unwrap_or_default();
            let health: Value = serde_json::from_str(&health).unwrap_or(Value::Null);
            let serving: Vec<&str> = health["storage"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter(|s| s["state"] == "serving")
                        .filter_map(|s| s["part"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for part in parts {
                if !serving.contains(&part.as_str()) {
                    missing.push(format!("{node} does not serve {part} yet"));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the coordinator's assignment did not settle within {within:?}: {}",
                missing.join("; ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The body of a plain HTTP/1.0 GET of `path` from `base` (`http://host:port` or `host:port`); an
/// answer other than 200 is an error naming its status line. Connecting gives up after 2 s and
/// reading after 5 s, so a node that is stopped or gone cannot hold the caller for long.
pub(crate) fn http_get(base: &str, path: &str) -> Result<String> {
    use std::{
        io::{Read, Write},
        net::{TcpStream, ToSocketAddrs},
    };
    let host = base.strip_prefix("http://").unwrap_or(base);
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("not a host:port: {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of the HTTP head")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_owned())
}

/// Prometheus text → `name{labels}` → value.
pub(crate) fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_by_series() {
        let m = parse_metrics(
            "# HELP x y\nrivulet_events_in_total{source=\"gossip\"} 12\nrivulet_duplicates_total 3\n# EOF\n",
        );
        assert_eq!(m["rivulet_events_in_total{source=\"gossip\"}"], 12.0);
        assert_eq!(m["rivulet_duplicates_total"], 3.0);
    }

    /// Serves one connection with `answer` after reading the request; returns the request line.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request).expect("request line");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            reader
                .get_mut()
                .write_all(answer.as_bytes())
                .expect("answer");
            request
        });
        (addr, server)
    }

    #[test]
    fn a_get_returns_the_body_of_a_200_and_names_any_other_status() {
        let (addr, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(
            http_get(&format!("http://{addr}"), "/health").expect("200"),
            "ok"
        );
        assert_eq!(server.join().expect("server"), "GET /health HTTP/1.0\r\n");

        let (addr, server) = serve_once("HTTP/1.1 404 Not Found\r\n\r\nno");
        let error = http_get(&addr, "/nope").expect_err("404").to_string();
        assert_eq!(error, "GET /nope: HTTP/1.1 404 Not Found");
        server.join().expect("server");

        assert!(http_get("http://not an address", "/").is_err());
    }
}

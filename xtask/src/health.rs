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

/// The body of a plain HTTP/1.0 GET of `path` from `base` (`http://host:port`).
pub(crate) fn http_get(base: &str, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let host = base.strip_prefix("http://").context("not an http:// URL")?;
    let mut stream = std::net::TcpStream::connect(host)?;
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
}

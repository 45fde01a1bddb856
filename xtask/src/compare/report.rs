//! The side-by-side table: every figure of Rivulet next to the same figure of each peer, the ratio
//! Rivulet/peer, and whether Rivulet is ahead; then the two goals.

use serde_json::{Value, json};

/// Which way is better.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

/// One figure of Rivulet against one peer's.
struct Row {
    shape: &'static str,
    figure: &'static str,
    better: Better,
    rivulet: Option<f64>,
    peer: &'static str,
    value: Option<f64>,
    /// Events lost in the runs behind the figure: (Rivulet's, the peer's).
    lost: (u64, u64),
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        match (self.rivulet, self.value) {
            (Some(r), Some(p)) if p > 0.0 => Some(r / p),
            _ => None,
        }
    }

    fn ahead(&self) -> Option<bool> {
        let ratio = self.ratio()?;
        Some(match self.better {
            Better::Higher => ratio > 1.0,
            Better::Lower => ratio < 1.0,
        })
    }
}

/// Messages per second delivered to each subscriber of a run (deliveries / subscribers).
fn per_subscriber(run: &Value) -> Option<f64> {
    Some(run["deliveriesPerSecond"].as_f64()? / run["subscribers"].as_f64()?.max(1.0))
}

fn lost(run: &Value) -> u64 {
    run["lost"].as_u64().unwrap_or(0)
}

fn ms(run: &Value, p: &str) -> Option<f64> {
    run["latencyMs"][p].as_f64()
}

/// Every row of the table.
fn rows(brokers: &Value, rivulet: &Value, streamr: &Value) -> Vec<Row> {
    use Better::{Higher, Lower};
    let r = &rivulet["runs"];
    let mut rows = Vec::new();
    type Get = fn(&Value) -> Option<f64>;
    let deliveries: Get = |v| v["deliveriesPerSecond"].as_f64();
    let (p50, p99): (Get, Get) = (|v| ms(v, "p50"), |v| ms(v, "p99"));
    let broker_shapes: [(&str, &str, Better, &str, Get); 11] = [
        (
            "1→1 throughput, msg/s (subscriber trusts its node)",
            "1to1_max",
            Higher,
            "1node_1to1_max_trust",
            per_subscriber,
        ),
        (
            "1→1 throughput, msg/s (trusts, wire frames)",
            "1to1_max",
            Higher,
            "1node_1to1_max_trust_wire",
            per_subscriber,
        ),
        (
            "1→1 throughput, msg/s (subscriber verifies)",
            "1to1_max",
            Higher,
            "1node_1to1_max_verify",
            per_subscriber,
        ),
        (
            "1→10 deliveries/s (subscribers trust)",
            "1to10_max",
            Higher,
            "1node_1to10_max_trust",
            deliveries,
        ),
        (
            "1→10 deliveries/s (subscribers trust, wire frames)",
            "1to10_max",
            Higher,
            "1node_1to10_max_trust_wire",
            deliveries,
        ),
        (
            "1→100 deliveries/s (subscribers trust, wire frames)",
            "1to100_max",
            Higher,
            "1node_1to100_max_trust_wire",
            deliveries,
        ),
        (
            "1→10 deliveries/s (subscribers verify)",
            "1to10_max",
            Higher,
            "1node_1to10_max_verify",
            deliveries,
        ),
        (
            "1→1 p50 latency at 1,000 msg/s, ms",
            "1to1_paced",
            Lower,
            "1node_1to1_paced_trust",
            p50,
        ),
        (
            "1→1 p99 latency at 1,000 msg/s, ms",
            "1to1_paced",
            Lower,
            "1node_1to1_paced_trust",
            p99,
        ),
        (
            "1→10 p50 latency at 1,000 msg/s, ms",
            "1to10_paced",
            Lower,
            "1node_1to10_paced_trust",
            p50,
        ),
        (
            "1→10 p99 latency at 1,000 msg/s, ms",
            "1to10_paced",
            Lower,
            "1node_1to10_paced_trust",
            p99,
        ),
    ];
    for (figure, broker_run, better, rivulet_run, get) in broker_shapes {
        for (peer, key) in [("NATS", "nats"), ("mosquitto", "mosquitto")] {
            rows.push(Row {
                shape: "one broker / one node",
                figure,
                better,
                rivulet: get(&r[rivulet_run]),
                peer,
                value: get(&brokers[key][broker_run]),
                lost: (lost(&r[rivulet_run]), lost(&brokers[key][broker_run])),
            });
        }
    }
    let m = &streamr["medians"];
    let us = |key: &str| m[key].as_f64().map(|v| v / 1000.0);
    let start = rivulet["nodeStart"].clone();
    let first_peer = match (
        start["b"]["firstPeerMs"].as_f64(),
        start["c"]["firstPeerMs"].as_f64(),
    ) {
        (Some(b), Some(c)) => Some((b + c) / 2.0),
        (b, c) => b.or(c),
    };
    let join = r["join"]["firstEventMs"]["p50"].as_f64();
    // Streamr's runs count what each subscriber received; its figures are null when one fell short.
    let short = |phase: &str| {
        let run = &streamr["reps"][0][phase];
        let wanted = run["n"].as_u64().unwrap_or(0) * 2;
        let got: u64 = run["received"]
            .as_array()
            .map_or(wanted, |a| a.iter().filter_map(Value::as_u64).sum());
        wanted.saturating_sub(got)
    };
    let paced = |run: &str, p: &str| ms(&r[run], p);
    // (figure, better, Rivulet's, Streamr's, (Rivulet's run, Streamr's phase))
    type Figure<'a> = (
        &'a str,
        Better,
        Option<f64>,
        Option<f64>,
        (&'a str, &'a str),
    );
    let streamr_rows: [Figure; 9] = [
        (
            "A: throughput, msg/s (subscribers trust)",
            Higher,
            per_subscriber(&r["3nodes_max_trust"]),
            m["A_msgsPerS"].as_f64(),
            ("3nodes_max_trust", "A"),
        ),
        (
            "C1: throughput, msg/s (subscribers verify)",
            Higher,
            per_subscriber(&r["3nodes_max_verify"]),
            m["C1_msgsPerS"].as_f64(),
            ("3nodes_max_verify", "C1"),
        ),
        (
            "B: p50 latency at 1,000 msg/s, ms",
            Lower,
            paced("3nodes_paced_trust", "p50"),
            us("B_p50us"),
            ("3nodes_paced_trust", "B"),
        ),
        (
            "B: p99 latency at 1,000 msg/s, ms",
            Lower,
            paced("3nodes_paced_trust", "p99"),
            us("B_p99us"),
            ("3nodes_paced_trust", "B"),
        ),
        (
            "C2: p50 latency, verifying, ms",
            Lower,
            paced("3nodes_paced_verify", "p50"),
            us("C2_p50us"),
            ("3nodes_paced_verify", "C2"),
        ),
        (
            "C2: p99 latency, verifying, ms",
            Lower,
            paced("3nodes_paced_verify", "p99"),
            us("C2_p99us"),
            ("3nodes_paced_verify", "C2"),
        ),
        (
            "node start → first peer, ms",
            Lower,
            first_peer,
            m["nodeStartMs"].as_f64(),
            ("", ""),
        ),
        (
            "join a stream part → first neighbour/event, ms",
            Lower,
            join,
            m["joinToFirstNeighborMs"].as_f64(),
            ("join", ""),
        ),
        (
            "start + join, ms",
            Lower,
            first_peer.zip(join).map(|(a, b)| a + b),
            m["startPlusJoinFirstNeighborMs"].as_f64(),
            ("join", ""),
        ),
    ];
    for (figure, better, rivulet, value, (rivulet_run, phase)) in streamr_rows {
        rows.push(Row {
            shape: "Streamr's shape: 3 nodes, 2 subscribers",
            figure,
            better,
            rivulet,
            peer: "Streamr",
            value,
            lost: (
                lost(&r[rivulet_run]),
                if phase.is_empty() { 0 } else { short(phase) },
            ),
        });
    }
    rows
}

/// A number as the table shows it: thousands separated, or three significant digits below 100.
fn show(v: Option<f64>) -> String {
    let Some(v) = v else {
        return "—".to_owned();
    };
    if v >= 100.0 {
        let digits = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// #15's latency goals across three nodes, from Rivulet's paced runs with subscribers on B and C:
/// p50 ≤ 0.5 ms, and p99 ≤ 2 ms with one subscriber per node or ≤ 5 ms with ten subscribers.
fn latency_goals(rivulet: &Value) -> Vec<Value> {
    [
        ("3nodes_paced_trust", "1,000 events/s, 2 subscribers", 2.0),
        (
            "3nodes_paced_trust_10",
            "1,000 events/s, 10 subscribers",
            5.0,
        ),
        ("3nodes_10k_trust", "10,000 events/s, 2 subscribers", 2.0),
        (
            "3nodes_10k_trust_10",
            "10,000 events/s, 10 subscribers",
            5.0,
        ),
    ]
    .into_iter()
    .filter_map(|(name, shape, p99_goal)| {
        let run = rivulet["runs"].get(name)?;
        let (p50, p99) = (ms(run, "p50"), ms(run, "p99"));
        let met = p50
            .zip(p99)
            .map(|(p50, p99)| p50 <= 0.5 && p99 <= p99_goal && lost(run) == 0);
        Some(json!({
            "run": name, "shape": shape, "p50": p50, "p99": p99, "p99Goal": p99_goal,
            "lost": lost(run), "met": met,
        }))
    })
    .collect()
}

/// Prints the table and the goals; returns the rows and the goals as JSON.
pub(super) fn print(brokers: &Value, rivulet: &Value, streamr: &Value) -> Value {
    let rows = rows(brokers, rivulet, streamr);
    let mut shape = "";
    println!(
        "\n{:<50} {:>10}  {:<10} {:>10} {:>9}",
        "figure (200 B payloads)", "Rivulet", "peer", "peer's", "Riv/peer"
    );
    for row in &rows {
        if row.shape != shape {
            shape = row.shape;
            println!("-- {shape}");
        }
        let mut verdict = match row.ahead() {
            Some(true) => "ahead".to_owned(),
            Some(false) => "behind".to_owned(),
            None => String::new(),
        };
        if row.lost.0 > 0 {
            verdict.push_str(&format!(" (Rivulet lost {})", row.lost.0));
        }
        if row.lost.1 > 0 {
            verdict.push_str(&format!(" ({} lost {})", row.peer, row.lost.1));
        }
        println!(
            "{:<50} {:>10}  {:<10} {:>10} {:>9}  {verdict}",
            row.figure,
            show(row.rivulet),
            row.peer,
            show(row.value),
            row.ratio().map_or("—".to_owned(), |r| format!("{r:.3}")),
        );
    }
    let streamr_rows: Vec<&Row> = rows.iter().filter(|r| r.peer == "Streamr").collect();
    let ahead = streamr_rows
        .iter()
        .filter(|r| r.ahead() == Some(true))
        .count();
    // Forwarding already-verified events: Rivulet's subscribers that trust their node against NATS.
    let forwarding: Vec<(String, Option<f64>)> = rows
        .iter()
        .filter(|r| r.peer == "NATS" && r.better == Better::Higher && r.figure.contains("trust"))
        .map(|r| (r.figure.to_owned(), r.ratio()))
        .collect();
    println!(
        "\ngoal: ahead of Streamr on every figure — ahead on {ahead} of {}",
        streamr_rows.len()
    );
    for (figure, ratio) in &forwarding {
        println!(
            "goal: forwarding within 2× of NATS — {figure}: Rivulet/NATS {}",
            ratio.map_or("—".to_owned(), |r| format!(
                "{r:.3} (NATS {:.1}× faster)",
                1.0 / r
            ))
        );
    }
    let latency = latency_goals(rivulet);
    for goal in &latency {
        println!(
            "goal: 3 nodes, {} — p50 {} ms (≤ 0.5), p99 {} ms (≤ {}){}",
            goal["shape"].as_str().unwrap_or_default(),
            show(goal["p50"].as_f64()),
            show(goal["p99"].as_f64()),
            goal["p99Goal"],
            match goal["met"].as_bool() {
                Some(true) => " — met",
                Some(false) => " — not met",
                None => "",
            }
        );
    }
    json!({
        "rows": rows.iter().map(|r| json!({
            "shape": r.shape,
            "figure": r.figure,
            "better": if r.better == Better::Higher { "higher" } else { "lower" },
            "rivulet": r.rivulet,
            "peer": r.peer,
            "peerValue": r.value,
            "ratio": r.ratio(),
            "ahead": r.ahead(),
            "lost": { "rivulet": r.lost.0, "peer": r.lost.1 },
        })).collect::<Vec<_>>(),
        "goals": {
            "aheadOfStreamr": { "ahead": ahead, "of": streamr_rows.len() },
            "latency3Nodes": latency,
            "forwardingVsNats": forwarding.iter().map(|(f, r)| json!({ "figure": f, "ratio": r, "within2x": r.map(|r| r >= 0.5) })).collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Better, latency_goals, rows, show};

    #[test]
    fn latency_goals_need_the_median_the_tail_and_nothing_lost() {
        let rivulet = json!({ "runs": {
            "3nodes_paced_trust": { "latencyMs": { "p50": 0.49, "p99": 1.9 }, "lost": 0 },
            "3nodes_paced_trust_10": { "latencyMs": { "p50": 0.49, "p99": 4.0 }, "lost": 2 },
            "3nodes_10k_trust": { "latencyMs": { "p50": 0.51, "p99": 1.0 }, "lost": 0 },
        } });
        let goals = latency_goals(&rivulet);
        let met: Vec<_> = goals.iter().map(|g| g["met"].as_bool()).collect();
        // The fourth run is missing: no goal line for it.
        assert_eq!(met, [Some(true), Some(false), Some(false)]);
        assert_eq!(goals[1]["p99Goal"], 5.0);
    }

    #[test]
    fn ratios_are_rivulet_over_peer_and_ahead_follows_the_better_direction() {
        let brokers = json!({ "nats": { "1to1_max": { "deliveriesPerSecond": 1000.0, "subscribers": 1 },
                                        "1to1_paced": { "latencyMs": { "p50": 0.1 } } } });
        let rivulet = json!({ "runs": {
            "1node_1to1_max_trust": { "deliveriesPerSecond": 500.0, "subscribers": 1, "lost": 3 },
            "1node_1to1_paced_trust": { "latencyMs": { "p50": 0.05 } },
            "3nodes_max_trust": { "deliveriesPerSecond": 4000.0, "subscribers": 2 },
        } });
        let streamr = json!({ "medians": { "A_msgsPerS": 1000.0 },
                              "reps": [{ "A": { "n": 10, "received": [10, 9] } }] });
        let rows = rows(&brokers, &rivulet, &streamr);
        let find = |figure: &str, peer: &str| {
            rows.iter()
                .find(|r| r.figure.starts_with(figure) && r.peer == peer)
                .expect("row")
        };
        let throughput = find("1→1 throughput, msg/s (subscriber trusts", "NATS");
        assert_eq!(throughput.ratio(), Some(0.5));
        assert_eq!(throughput.ahead(), Some(false));
        assert_eq!(throughput.lost, (3, 0));
        let latency = find("1→1 p50", "NATS");
        assert!(latency.better == Better::Lower && latency.ahead() == Some(true));
        let a = find("A:", "Streamr");
        assert_eq!((a.ratio(), a.lost), (Some(2.0), (0, 1)));
        assert_eq!(find("1→1 p50", "mosquitto").ratio(), None);
    }

    #[test]
    fn numbers_are_shown_readably() {
        assert_eq!(show(Some(1_330_685.4)), "1,330,685");
        assert_eq!(show(Some(123.4)), "123");
        assert_eq!(show(Some(47.04)), "47.0");
        assert_eq!(show(Some(0.324)), "0.32");
        assert_eq!(show(None), "—");
    }
}

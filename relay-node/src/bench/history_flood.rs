//! `--history-readers`: readers that pull history from the publish node over HTTP, one request after
//! another, for as long as the events go out — what live delivery costs while anyone may read history.

use std::time::Instant;

use tokio::{sync::watch, task::JoinHandle};

use super::{args::BenchArgs, ws::millis};

/// Starts `--history-readers` readers of `--history-last` events each; they stop when `stop` turns
/// true and return how long each answer they got took (ms).
pub(super) fn start(args: &BenchArgs, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<Vec<f64>>> {
    let url = format!("{}/api/v1/history", args.publish_node);
    let query = [
        ("stream", args.stream.to_string()),
        ("partition", args.partition.to_string()),
        ("last", args.history_last.to_string()),
    ];
    (0..args.history_readers)
        .map(|_| {
            let (url, query, mut stop) = (url.clone(), query.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut took = Vec::new();
                while !*stop.borrow() {
                    let asked = Instant::now();
                    let answer = async {
                        http.get(&url)
                            .query(&query)
                            .send()
                            .await?
                            .error_for_status()?
                            .bytes()
                            .await
                    };
                    tokio::select! {
                        answer = answer => if answer.is_ok() {
                            took.push(millis(asked.elapsed()));
                        },
                        _ = stop.changed() => break,
                    }
                }
                took
            })
        })
        .collect()
}

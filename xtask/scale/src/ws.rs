//! The relay node's WebSocket API from the client side: connect, wait for an answer, send JSON.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A client WebSocket.
pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket API of the node at `http` (`http://host:port`) and reads its challenge.
pub(crate) async fn open(http: &str) -> Result<Ws> {
    let url = format!("{}/api/v1/ws", http.replacen("http", "ws", 1));
    let connect = tokio_tungstenite::connect_async_with_config(&url, None, true);
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .with_context(|| format!("no connection to {url} within 10 s"))?
        .with_context(|| format!("cannot connect to {url}"))?;
    expect(&mut ws, "challenge", Duration::from_secs(10)).await?;
    Ok(ws)
}

/// Sends a JSON request.
pub(crate) async fn send(ws: &mut Ws, request: &Value) -> Result<()> {
    ws.send(Message::Text(request.to_string().into()))
        .await
        .context("the WebSocket closed")
}

/// Reads frames until one of type `kind` (returned) or an error frame (an error), within `limit`.
/// Frames of other types are skipped.
pub(crate) async fn expect(ws: &mut Ws, kind: &str, limit: Duration) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .with_context(|| format!("no {kind} within {limit:?}"))?
            .context("connection closed")??;
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t)?;
            if v["type"] == kind {
                return Ok(v);
            }
            if v["type"] == "error" {
                bail!("{}: {}", v["error"], v["message"]);
            }
        }
    }
}

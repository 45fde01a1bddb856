//! Test helper for the crash test: appends numbered messages to the store at `argv[1]` in batches of 50
//! and prints `acked N` after each durable append, until killed.

use std::io::Write;

use rivulet_protocol::{Address, ChainId, MessageId, Partition};
use rivulet_store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: store-writer PATH")?;
    let store = Store::open(std::path::Path::new(&path))?;
    let template = MessageId {
        stream_id: "rivulet.eth/crash".parse()?,
        partition: Partition::new(0)?,
        timestamp: 0,
        sequence_number: 0,
        publisher: Address([1; 20]),
        chain_id: ChainId::new("c")?,
    };
    let mut stdout = std::io::stdout().lock();
    let mut n: u64 = 0;
    loop {
        let batch: Vec<(MessageId, Vec<u8>)> = (n..n + 50)
            .map(|i| {
                (
                    MessageId {
                        timestamp: i,
                        ..template.clone()
                    },
                    i.to_be_bytes().to_vec(),
                )
            })
            .collect();
        store.append(batch.iter().map(|(id, w)| (id, w.as_slice())))?;
        n += 50;
        writeln!(stdout, "acked {n}")?;
        stdout.flush()?;
    }
}

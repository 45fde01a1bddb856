//! Store hot paths: appending batches (one fsync per batch) and reading history.
//! `cargo bench -p rivulet-store --bench store`; figures go into BENCHMARKS.md.
#![allow(clippy::expect_used)] // fixed, valid inputs

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rivulet_protocol::{Address, ChainId, MessageId, MessageRef, Partition, StreamPartId};
use rivulet_store::{Limit, Store};

fn ids(part: &StreamPartId, from: u64, n: u64) -> Vec<(MessageId, Vec<u8>)> {
    (from..from + n)
        .map(|ts| {
            let id = MessageId {
                stream_id: part.stream_id.clone(),
                partition: part.partition,
                timestamp: ts,
                sequence_number: 0,
                publisher: Address([1; 20]),
                chain_id: ChainId::new("bench").expect("id"),
            };
            (id, vec![0x5a; 200])
        })
        .collect()
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("bench.redb")).expect("open");
    let part = StreamPartId::new(
        "rivulet.eth/bench".parse().expect("id"),
        Partition::new(0).expect("p"),
    );
    let mut next = 0u64;
    for batch in [1u64, 100, 1000] {
        let mut group = c.benchmark_group(format!("append_batch_{batch}x200B"));
        group.throughput(Throughput::Elements(batch));
        group.sample_size(20);
        group.bench_function("durable", |b| {
            b.iter_batched(
                || {
                    next += batch;
                    ids(&part, next - batch, batch)
                },
                |messages| {
                    store
                        .append(messages.iter().map(|(id, w)| (id, w.as_slice())))
                        .expect("append")
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
    // Reads over a part holding at least 100k messages.
    let have = next;
    if have < 100_000 {
        for chunk in (have..100_000).step_by(5_000) {
            let batch = ids(&part, chunk, 5_000);
            store
                .append(batch.iter().map(|(id, w)| (id, w.as_slice())))
                .expect("fill");
        }
    }
    let mut group = c.benchmark_group("read_100k_part");
    group.throughput(Throughput::Elements(100));
    group.bench_function("last_100", |b| b.iter(|| store.last(black_box(&part), 100)));
    // The first page of the whole part's window (`last=100000`, which any reader of a public part
    // may ask for): the window's start is found by walking back over every key.
    group.bench_function("last_100000_first_page", |b| {
        b.iter(|| store.last_from_start(black_box(&part), 100_000, Limit(2_501)))
    });
    group.bench_function("range_100", |b| {
        b.iter(|| {
            store.range(
                &part,
                MessageRef::new(50_000, 0),
                MessageRef::new(50_099, 0),
                Limit::default(),
            )
        })
    });
    // Gap fill: 100 of the part's one chain, and a chain the part does not hold, over all of it (what
    // any reader may ask for).
    let chain = ChainId::new("bench").expect("id");
    group.bench_function("chain_range_100", |b| {
        b.iter(|| {
            store.chain_range(
                &part,
                Address([1; 20]),
                &chain,
                MessageRef::new(49_999, 0),
                MessageRef::new(50_099, 0),
                Limit::default(),
            )
        })
    });
    group.bench_function("chain_range_absent_chain", |b| {
        b.iter(|| {
            store.chain_range(
                &part,
                Address([2; 20]),
                &chain,
                MessageRef::new(0, 0),
                MessageRef::new(u64::MAX, u32::MAX),
                Limit::default(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);

//! The store against real files: queries, idempotence, pruning, reopening, and `kill -9` durability.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use rivulet_protocol::{Address, ChainId, MessageId, MessageRef, Partition, StreamPartId};
use rivulet_store::{Limit, Position, Store};

fn part(path: &str, partition: u32) -> StreamPartId {
    StreamPartId::new(
        format!("rivulet.eth/{path}").parse().unwrap(),
        Partition::new(partition).unwrap(),
    )
}

fn id(part: &StreamPartId, ts: u64, seq: u32, publisher: u8, chain: &str) -> MessageId {
    MessageId {
        stream_id: part.stream_id.clone(),
        partition: part.partition,
        timestamp: ts,
        sequence_number: seq,
        publisher: Address([publisher; 20]),
        chain_id: ChainId::new(chain).unwrap(),
    }
}

fn payload(id: &MessageId) -> Vec<u8> {
    format!(
        "{}:{}:{}:{}:{}",
        id.stream_part(),
        id.timestamp,
        id.sequence_number,
        id.publisher,
        id.chain_id
    )
    .into_bytes()
}

fn text(v: &[Vec<u8>]) -> Vec<String> {
    v.iter()
        .map(|b| String::from_utf8(b.clone()).unwrap())
        .collect()
}

#[test]
fn queries_are_per_part_ordered_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.redb")).unwrap();
    let a = part("a", 0);
    let a1 = part("a", 1);
    let ab = part("ab", 0);
    let mut ids = Vec::new();
    for ts in [5u64, 1, 3, 2, 4] {
        ids.push(id(&a, ts, 0, 1, "c1"));
        ids.push(id(&a, ts, 1, 2, "c2"));
    }
    ids.push(id(&a1, 3, 0, 1, "c1"));
    ids.push(id(&ab, 3, 0, 1, "c1"));
    let wires: Vec<Vec<u8>> = ids.iter().map(payload).collect();
    assert_eq!(
        store
            .append(ids.iter().zip(wires.iter().map(Vec::as_slice)))
            .unwrap(),
        12
    );
    // Idempotent: the same messages again add nothing.
    assert_eq!(
        store
            .append(ids.iter().zip(wires.iter().map(Vec::as_slice)))
            .unwrap(),
        0
    );
    assert_eq!(store.len().unwrap(), 12);

    let last3 = text(&store.last(&a, 3).unwrap());
    assert_eq!(
        last3,
        text(&[payload(&ids[9]), payload(&ids[0]), payload(&ids[1])])
    );
    assert_eq!(
        store.last(&a, 100).unwrap().len(),
        10,
        "other parts never leak in"
    );
    assert_eq!(store.last(&a1, 100).unwrap().len(), 1);
    assert_eq!(store.last(&ab, 100).unwrap().len(), 1);
    assert!(store.last(&part("none", 0), 10).unwrap().is_empty());

    let range = text(
        &store
            .range(
                &a,
                MessageRef::new(2, 1),
                MessageRef::new(4, 0),
                Limit::default(),
            )
            .unwrap(),
    );
    assert_eq!(range.len(), 4, "{range:?}"); // 2.1, 3.0, 3.1, 4.0
    assert!(range[0].contains(":2:1:"));
    assert!(range[3].contains(":4:0:"));
    assert_eq!(
        store.time_range(&a, 2, 3, Limit::default()).unwrap().len(),
        4
    );
    assert_eq!(store.time_range(&a, 2, 3, Limit(3)).unwrap().len(), 3);
    assert!(
        store
            .range(
                &a,
                MessageRef::new(4, 0),
                MessageRef::new(2, 0),
                Limit::default()
            )
            .unwrap()
            .is_empty()
    );

    // Gap fill: one chain, after (exclusive) .. to (inclusive).
    let chain = text(
        &store
            .chain_range(
                &a,
                Address([2; 20]),
                &ChainId::new("c2").unwrap(),
                MessageRef::new(1, 1),
                MessageRef::new(4, 1),
                Limit::default(),
            )
            .unwrap(),
    );
    assert_eq!(chain.len(), 3, "{chain:?}"); // 2.1, 3.1, 4.1
    assert!(chain.iter().all(|m| m.contains("c2")));
    assert!(chain[0].contains(":2:1:"));

    // Pruning drops only what is older, in that part only.
    assert_eq!(store.prune_before(&a, 3).unwrap(), 4);
    assert_eq!(store.last(&a, 100).unwrap().len(), 6);
    assert_eq!(store.last(&ab, 100).unwrap().len(), 1);
}

#[test]
fn history_survives_reopening_and_a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.redb");
    let p = part("x", 0);
    let m = id(&p, 1, 0, 1, "c");
    {
        let store = Store::open(&path).unwrap();
        store.append([(&m, payload(&m).as_slice())]).unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("cannot open the store"), "{err}");
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.last(&p, 10).unwrap(), vec![payload(&m)]);
    let err = Store::open(&dir.path().join("no/such/dir/h.redb"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot open the store"), "{err}");
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.redb");
    // The writer appends batches of 50 and prints "acked N" after each durable append.
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-writer"))
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = 0u64;
    while acked < 2_000 {
        let line = lines.next().unwrap().unwrap();
        acked = line.strip_prefix("acked ").unwrap().parse().unwrap();
    }
    // SIGKILL mid-stream: no destructor, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    let store = Store::open(&path).unwrap();
    let p = part("crash", 0);
    let kept = store.last(&p, 1_000_000).unwrap();
    assert!(
        kept.len() as u64 >= acked,
        "acknowledged {acked}, found {}",
        kept.len()
    );
    // Every acknowledged message is there, in order.
    for (i, wire) in kept.iter().take(acked as usize).enumerate() {
        assert_eq!(wire, &(i as u64).to_be_bytes().to_vec());
    }
}

#[test]
fn answers_stop_after_max_answer_bytes_and_last_starts_at_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.redb")).unwrap();
    let p = part("big", 0);
    let ids: Vec<MessageId> = (0..20u64).map(|ts| id(&p, ts, 0, 1, "c")).collect();
    let values: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 1 << 20]).collect();
    store
        .append(ids.iter().zip(&values).map(|(id, v)| (id, v.as_slice())))
        .unwrap();
    // The newest twelve: read from the window's oldest, and no further than the message that takes
    // the answer over MAX_ANSWER_BYTES.
    let last = store.last(&p, 12).unwrap();
    let firsts: Vec<u8> = last.iter().map(|v| v[0]).collect();
    let fit = rivulet_store::MAX_ANSWER_BYTES / (1 << 20) + 1;
    assert_eq!(firsts, (8..8 + fit as u8).collect::<Vec<u8>>());
    let range = store
        .range(
            &p,
            MessageRef::new(0, 0),
            MessageRef::new(u64::MAX, u32::MAX),
            Limit::default(),
        )
        .unwrap();
    assert_eq!(range.len(), fit);
    assert_eq!(range[0][0], 0);
    // Small answers are whole.
    assert_eq!(store.last(&p, 3).unwrap().len(), 3);
    // The start of a window, no further than asked: the oldest of the newest 10.
    let first = store.last_from_start(&p, 10, Limit(4)).unwrap();
    let firsts: Vec<u8> = first.iter().map(|v| v[0]).collect();
    assert_eq!(firsts, [10, 11, 12, 13]);
    // A window smaller than the limit is whole.
    let whole = store.last_from_start(&p, 2, Limit(4)).unwrap();
    assert_eq!(whole.iter().map(|v| v[0]).collect::<Vec<u8>>(), [18, 19]);
    // A message larger than the bound comes with the next one, which says there is more.
    let huge = part("huge", 0);
    let ids: Vec<MessageId> = (0..3u64).map(|ts| id(&huge, ts, 0, 1, "c")).collect();
    let values = vec![vec![1u8; rivulet_store::MAX_ANSWER_BYTES + 1]; 3];
    store
        .append(ids.iter().zip(&values).map(|(id, v)| (id, v.as_slice())))
        .unwrap();
    assert_eq!(store.last(&huge, 3).unwrap().len(), 2);
}

/// A visit of a time range sees every message in it, in key order, past the bound an answer stops at.
#[test]
fn a_visit_of_a_time_range_sees_every_message_however_many_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.redb")).unwrap();
    let p = part("visit", 0);
    // Twelve 1 MiB messages at 1..=12 ms, each stored by two publishers, and one of another part.
    let ids: Vec<MessageId> = (1..=12u64)
        .flat_map(|ts| [id(&p, ts, 0, 2, "c"), id(&p, ts, 0, 1, "c")])
        .chain([id(&part("visit", 1), 5, 0, 1, "c")])
        .collect();
    let values: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| {
            let mut v = vec![0u8; 1 << 20];
            v[0] = id.timestamp as u8;
            v[1] = id.publisher.0[0];
            v
        })
        .collect();
    store
        .append(ids.iter().zip(&values).map(|(id, v)| (id, v.as_slice())))
        .unwrap();
    let mut seen = Vec::new();
    let visited = store
        .each_in_time_range(&p, 2, 11, |wire| seen.push((wire[0], wire[1])))
        .unwrap();
    let expected: Vec<(u8, u8)> = (2..=11u8).flat_map(|ts| [(ts, 1), (ts, 2)]).collect();
    assert_eq!(seen, expected, "all 20 MiB of the range, in key order");
    assert_eq!(visited, 20);
    assert!(visited << 20 > rivulet_store::MAX_ANSWER_BYTES);
    assert_eq!(store.each_in_time_range(&p, 13, 20, |_| {}).unwrap(), 0);
    assert_eq!(store.each_in_time_range(&p, 5, 4, |_| {}).unwrap(), 0);
}

#[test]
fn envelopes_are_found_by_recipient_after_a_reference_and_pruned_with_the_part() {
    use rivulet_store::Entry;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.redb")).unwrap();
    let a = part("a", 0);
    let (alice, bob) = (Address([0xa1; 20]), Address([0xb0; 20]));
    let ids: Vec<MessageId> = (1..=4).map(|ts| id(&a, ts, 0, 1, "c1")).collect();
    let wires: Vec<Vec<u8>> = ids.iter().map(payload).collect();
    let recipients = [Some(alice), Some(bob), None, Some(alice)];
    store
        .append_entries(
            ids.iter()
                .zip(&wires)
                .zip(recipients)
                .map(|((id, wire), to)| Entry {
                    id,
                    wire,
                    envelope_for: to,
                }),
        )
        .unwrap();
    assert_eq!(store.len().unwrap(), 4, "every entry is a message too");
    let for_alice = store
        .envelopes(&a, &alice, MessageRef::new(0, 0), Limit::default())
        .unwrap();
    assert_eq!(for_alice, vec![wires[0].clone(), wires[3].clone()]);
    let after_first = store
        .envelopes(&a, &alice, MessageRef::new(1, 0), Limit::default())
        .unwrap();
    assert_eq!(after_first, vec![wires[3].clone()]);
    assert_eq!(
        store
            .envelopes(
                &part("a", 1),
                &alice,
                MessageRef::new(0, 0),
                Limit::default()
            )
            .unwrap(),
        Vec::<Vec<u8>>::new(),
        "per part"
    );
    assert_eq!(store.prune_before(&a, 2).unwrap(), 1);
    let left = store
        .envelopes(&a, &alice, MessageRef::new(0, 0), Limit::default())
        .unwrap();
    assert_eq!(left, vec![wires[3].clone()], "pruned with the part");
    assert_eq!(
        store
            .envelopes(&a, &bob, MessageRef::new(0, 0), Limit::default())
            .unwrap(),
        vec![wires[1].clone()]
    );
}

#[test]
fn answers_continue_after_a_message_inside_a_shared_reference() {
    use rivulet_store::Entry;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.redb")).unwrap();
    let a = part("a", 0);
    let alice = Address([0xa1; 20]);
    // Many chains (two publishers, chain ids whose bytes sort "c" < "c1" < "c10" < "c2") at one
    // reference, then one later message.
    let mut ids: Vec<MessageId> = Vec::new();
    for publisher in [2, 1] {
        for chain in ["c", "c1", "c10", "c2"] {
            ids.push(id(&a, 1000, 0, publisher, chain));
        }
    }
    ids.push(id(&a, 2000, 0, 1, "c"));
    let wires: Vec<Vec<u8>> = ids.iter().map(payload).collect();
    store
        .append_entries(ids.iter().zip(&wires).map(|(id, wire)| Entry {
            id,
            wire,
            envelope_for: Some(alice),
        }))
        .unwrap();
    let all = store
        .range(
            &a,
            MessageRef::new(0, 0),
            MessageRef::new(u64::MAX, u32::MAX),
            Limit::default(),
        )
        .unwrap();
    assert_eq!(all.len(), 9);
    let order = text(&all);
    // Page through one message at a time from each message's position: each page is the next message.
    let end = MessageRef::new(u64::MAX, u32::MAX);
    for (i, wire) in all.iter().enumerate() {
        let at = ids.iter().find(|m| payload(m) == *wire).unwrap();
        let rest = store
            .range_after(&a, Position::of(at), end, Limit(100))
            .unwrap();
        assert_eq!(text(&rest), order[i + 1..].to_vec(), "after {}", order[i]);
        let envelopes = store
            .envelopes_after(&a, &alice, Position::of(at), Limit(100))
            .unwrap();
        assert_eq!(
            text(&envelopes),
            order[i + 1..].to_vec(),
            "envelopes after {}",
            order[i]
        );
    }
    // `to` still bounds the rest; an exclusive reference skips every chain at it.
    let first = ids.iter().find(|m| payload(m) == all[0]).unwrap();
    assert_eq!(
        store
            .range_after(
                &a,
                Position::of(first),
                MessageRef::new(1000, 0),
                Limit(100)
            )
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        text(
            &store
                .envelopes(&a, &alice, MessageRef::new(1000, 0), Limit(100))
                .unwrap()
        ),
        order[8..].to_vec()
    );
}

/// Gap fills read through the chain index: it follows appends and prunes, and a store written before
/// the index existed gets it when opened.
#[test]
fn the_chain_index_follows_appends_and_prunes_and_is_built_for_an_older_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.redb");
    let (a, b) = (part("a", 0), part("b", 0));
    let chain = |store: &Store, publisher: u8, id: &str| {
        text(
            &store
                .chain_range(
                    &a,
                    Address([publisher; 20]),
                    &ChainId::new(id).unwrap(),
                    MessageRef::new(0, 0),
                    MessageRef::new(u64::MAX, u32::MAX),
                    Limit::default(),
                )
                .unwrap(),
        )
    };
    let ids: Vec<MessageId> = (1..=6)
        .flat_map(|ts| {
            [
                id(&a, ts, 0, 1, "x"),
                id(&a, ts, 0, 1, "xy"),
                id(&a, ts, 0, 2, "x"),
            ]
        })
        .collect();
    let expected = |publisher: u8, chain_id: &str, from: u64| -> Vec<String> {
        ids.iter()
            .filter(|m| {
                m.publisher == Address([publisher; 20])
                    && m.chain_id.as_str() == chain_id
                    && m.timestamp >= from
            })
            .map(|m| String::from_utf8(payload(m)).unwrap())
            .collect()
    };
    {
        let store = Store::open(&path).unwrap();
        let wires: Vec<Vec<u8>> = ids.iter().map(payload).collect();
        store
            .append(ids.iter().zip(&wires).map(|(id, w)| (id, w.as_slice())))
            .unwrap();
        // "x" and "xy" of one publisher are different chains (the length is in the key).
        assert_eq!(chain(&store, 1, "x"), expected(1, "x", 0));
        assert_eq!(chain(&store, 1, "xy"), expected(1, "xy", 0));
        assert_eq!(chain(&store, 2, "x"), expected(2, "x", 0));
        assert!(chain(&store, 2, "xy").is_empty());
        assert_eq!(store.prune_before(&a, 3).unwrap(), 6);
        assert_eq!(chain(&store, 1, "x"), expected(1, "x", 3));
        // A pruned message stored again is found again.
        store.append([(&ids[0], wires[0].as_slice())]).unwrap();
        assert_eq!(chain(&store, 1, "x").len(), 5);
        // More than one rebuild transaction's worth (50,000), in another part.
        let many: Vec<MessageId> = (0..50_005).map(|ts| id(&b, ts, 0, 3, "many")).collect();
        let wires: Vec<Vec<u8>> = many.iter().map(payload).collect();
        store
            .append(many.iter().zip(&wires).map(|(id, w)| (id, w.as_slice())))
            .unwrap();
    }
    // A store from before the index: the same file without the "chains" and "meta" tables.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let chains: redb::TableDefinition<&[u8], ()> = redb::TableDefinition::new("chains");
        let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        assert!(txn.delete_table(chains).unwrap());
        assert!(txn.delete_table(meta).unwrap());
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(chain(&store, 1, "x").len(), 5, "rebuilt when opened");
    let many = store
        .chain_range(
            &b,
            Address([3; 20]),
            &ChainId::new("many").unwrap(),
            MessageRef::new(0, 0),
            MessageRef::new(u64::MAX, u32::MAX),
            Limit(60_000),
        )
        .unwrap();
    assert_eq!(many.len(), 50_004, "every one after (0, 0)");
    assert_eq!(chain(&store, 2, "x"), expected(2, "x", 3));
}

#[test]
fn the_page_cache_fills_up_to_its_bound_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cache = 1 << 20;
    let store = Store::open_with_cache(&dir.path().join("history.redb"), cache).unwrap();
    let p = part("cache", 0);
    let empty = store.cache_stats();
    assert!(empty.used_bytes <= cache);
    // 8 MiB of history in 64 batches of 32 messages of 4 KiB: eight times the cache.
    for batch in 0..64u64 {
        let ids: Vec<MessageId> = (0..32).map(|i| id(&p, batch * 32 + i, 0, 1, "c")).collect();
        let value = vec![7u8; 4096];
        store
            .append(ids.iter().map(|id| (id, value.as_slice())))
            .unwrap();
        assert!(store.cache_stats().used_bytes <= cache, "batch {batch}");
    }
    // Reading it all back twice goes through the cache: pages found there, others read and some dropped.
    for _ in 0..2 {
        assert_eq!(
            store.each_in_time_range(&p, 0, u64::MAX, |_| {}).unwrap(),
            2048
        );
    }
    let stats = store.cache_stats();
    assert!(stats.used_bytes <= cache, "{stats:?}");
    assert!(stats.used_bytes > cache / 2, "{stats:?}");
    assert!(stats.read_hits > 0, "{stats:?}");
    assert!(stats.read_misses > 0, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
}

use std::path::Path;

use serde_json::json;

use super::*;
use crate::events::{kinds, Event};

fn transcript(session: &str, n: usize) -> Record {
    Record::Transcript {
        session_id: session.to_owned(),
        text: format!("utterance {n}"),
        latency_ms: Some(n as i64),
        at: "2025-01-31T09:00:00.000Z".to_owned(),
    }
}

fn count(path: &Path, table: &str) -> i64 {
    let conn = schema::open_reader(path).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// An audit store whose queue was filled before its writer started.
fn prefilled(path: &Path, queue: usize, records: impl IntoIterator<Item = Record>) -> Audit {
    let conn = schema::open_writer(path).unwrap();
    let reader = AuditReader::open(path).unwrap();
    let (sink, rx) = channel(queue);
    for r in records {
        sink.record(r);
    }
    Audit::start(path, conn, sink, rx, reader).unwrap()
}

#[test]
fn events_become_records() {
    let created = Event::new(kinds::CALL_CREATED, "twilio-CA1-x")
        .with("transport", "twilio")
        .with("call_id", "CA1")
        .with("from", "+14155550100")
        .with("to", "+15005550006")
        .with("tier", "medium")
        .with(
            "reasons",
            json!([{"code": "international_caller", "message": "m"}]),
        );
    match Record::from_event(&created).unwrap() {
        Record::Admitted {
            session_id,
            tier,
            reasons,
            from,
            ..
        } => {
            assert_eq!(session_id, "twilio-CA1-x");
            assert_eq!(tier, "medium");
            assert_eq!(from, "+14155550100");
            assert!(reasons.contains("international_caller"));
        }
        other => panic!("{other:?}"),
    }
    let denied = Event::new(kinds::CALL_DENIED, "")
        .with("transport", "twilio")
        .with("reason", "busy")
        .with("reasons", json!([{"code": "busy", "message": "m"}]));
    assert!(matches!(
        Record::from_event(&denied),
        Some(Record::Denied { tier: None, .. })
    ));
    let final_ = Event::new(kinds::STT_FINAL, "s")
        .with("text", "hello")
        .with("latency_ms", 812u64);
    assert!(matches!(
        Record::from_event(&final_),
        Some(Record::Transcript { latency_ms: Some(812), ref text, .. }) if text == "hello"
    ));
    assert!(Record::from_event(&Event::new(kinds::DTMF, "s").with("digit", "5")).is_none());
    assert!(Record::from_event(&Event::new(kinds::ERROR, "s")).is_none());
}

#[test]
fn stored_times_sort_as_text() {
    use writer::stored_time;
    assert_eq!(
        stored_time("2025-01-31T09:15:02.125Z"),
        "2025-01-31T09:15:02.125Z"
    );
    assert_eq!(
        stored_time("2025-01-31T10:15:02+01:00"),
        "2025-01-31T09:15:02.000Z"
    );
    assert_eq!(
        stored_time("2025-01-31T09:15:02.1234567Z"),
        "2025-01-31T09:15:02.123Z"
    );
    assert_eq!(crate::events::now_rfc3339().len(), 24);
}

#[test]
fn the_writer_batches_what_is_queued_into_few_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let n = writer::MAX_BATCH * 2 + 10;
    let audit = prefilled(&path, n, (0..n).map(|i| transcript("s", i)));
    let totals = audit.close();
    assert_eq!(totals.written, n as u64);
    assert_eq!(totals.dropped, 0);
    assert_eq!(totals.failed, 0);
    assert_eq!(totals.batches, 3, "{totals:?}");
    assert_eq!(count(&path, "transcripts"), n as i64);
}

#[test]
fn close_drains_everything_queued_from_other_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let audit = Audit::open(&path, 10_000).unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let sink = audit.sink();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    assert!(sink.record(transcript(&format!("s{p}"), i)));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let totals = audit.close();
    assert_eq!(totals.written, 8000, "{totals:?}");
    assert_eq!(count(&path, "transcripts"), 8000);
    assert!(totals.batches < 8000, "batched: {totals:?}");
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    // No writer yet: the queue holds 4.
    let conn = schema::open_writer(&path).unwrap();
    let reader = AuditReader::open(&path).unwrap();
    let (sink, rx) = channel(4);
    let started = std::time::Instant::now();
    let accepted = (0..10).filter(|i| sink.record(transcript("s", *i))).count();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(accepted, 4);
    assert_eq!(sink.dropped(), 6);
    let audit = Audit::start(&path, conn, sink.clone(), rx, reader).unwrap();
    let totals = audit.close();
    assert_eq!(totals.written, 4);
    assert_eq!(totals.dropped, 6);
    assert_eq!(count(&path, "transcripts"), 4);
    // After close, records are dropped and counted too.
    assert!(!sink.record(transcript("s", 99)));
    assert_eq!(sink.dropped(), 7);
}

#[test]
fn a_refused_record_does_not_lose_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let admitted = |session: &str| Record::Admitted {
        session_id: session.to_owned(),
        transport: "twilio".to_owned(),
        call_id: "CA1".to_owned(),
        from: "+14155550100".to_owned(),
        to: "+15005550006".to_owned(),
        tier: "medium".to_owned(),
        reasons: "[]".to_owned(),
        at: "2025-01-31T09:00:00.000Z".to_owned(),
    };
    // The second `a` breaks the primary key; its verdict must not stay.
    let audit = prefilled(
        &path,
        10,
        [
            admitted("a"),
            admitted("a"),
            transcript("a", 1),
            admitted("b"),
        ],
    );
    let totals = audit.close();
    assert_eq!((totals.written, totals.failed), (3, 1));
    assert_eq!(count(&path, "calls"), 2);
    assert_eq!(count(&path, "verdicts"), 2);
    assert_eq!(count(&path, "transcripts"), 1);
}

/// A small history: two calls from one number, one from another, denied
/// calls, admin actions.
fn history(path: &Path) {
    let ev = |kind, session: &str, at: &str| {
        let mut e = Event::new(kind, session);
        e.timestamp = at.to_owned();
        e
    };
    let call = |session: &str, call_id: &str, from: &str, at: &str| {
        ev(kinds::CALL_CREATED, session, at)
            .with("transport", "twilio")
            .with("call_id", call_id)
            .with("from", from)
            .with("to", "+15005550006")
            .with("tier", "medium")
            .with("reasons", json!([]))
    };
    let denied = |call_id: &str, from: &str, reason: &str, at: &str| {
        ev(kinds::CALL_DENIED, "", at)
            .with("transport", "twilio")
            .with("call_id", call_id)
            .with("from", from)
            .with("to", "+15005550006")
            .with("tier", "medium")
            .with("reason", reason)
            .with("reasons", json!([{ "code": reason, "message": "m" }]))
    };
    let events = vec![
        call("s1", "CA1", "+14155550100", "2025-01-31T09:00:00.000Z"),
        ev(kinds::CALL_STARTED, "s1", "2025-01-31T09:00:01.000Z").with("stream_id", "MZ1"),
        ev(kinds::STT_FINAL, "s1", "2025-01-31T09:00:05.000Z")
            .with("text", "hello there")
            .with("latency_ms", 800),
        ev(kinds::ASSISTANT_TEXT, "s1", "2025-01-31T09:00:05.500Z")
            .with("text", "You said: hello there"),
        ev(kinds::CALL_ENDED, "s1", "2025-01-31T09:01:00.000Z").with("reason", "stopped"),
        ev(kinds::CALL_ENDED, "s1", "2025-01-31T09:02:00.000Z").with("reason", "late"),
        call("s2", "CA2", "+14155550100", "2025-01-31T10:00:00.000Z"),
        call("s3", "CA3", "+442071838750", "2025-01-31T11:00:00.000Z"),
        denied(
            "CA4",
            "+14155550100",
            "rate_limited",
            "2025-01-31T12:00:00.000Z",
        ),
        denied(
            "CA5",
            "+19005550000",
            "blocklisted",
            "2025-01-31T12:30:00.000Z",
        ),
    ];
    let mut records: Vec<Record> = events.iter().filter_map(Record::from_event).collect();
    records.push(Record::AdminAction {
        action: "call.hangup".to_owned(),
        target: "s2".to_owned(),
        remote_addr: Some("127.0.0.1:5000".to_owned()),
        at: "2025-01-31T10:00:30.000Z".to_owned(),
    });
    records.push(Record::AdminAction {
        action: "audit.query".to_owned(),
        target: "limit=100".to_owned(),
        remote_addr: None,
        at: "2025-01-31T13:00:00.000Z".to_owned(),
    });
    prefilled(path, 100, records).close();
}

fn run(path: &Path, q: AuditQuery) -> AuditReport {
    AuditReader::open(path).unwrap().query(&q).unwrap()
}

#[test]
fn queries_filter_by_call_caller_time_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    history(&path);

    let all = run(&path, AuditQuery::default());
    let sessions: Vec<&str> = all.calls.iter().map(|c| c.session_id.as_str()).collect();
    assert_eq!(sessions, ["s3", "s2", "s1"], "newest first");
    let s1 = &all.calls[2];
    assert_eq!(s1.stream_id.as_deref(), Some("MZ1"));
    assert_eq!(s1.ended_at.as_deref(), Some("2025-01-31T09:01:00.000Z"));
    assert_eq!(
        s1.end_reason.as_deref(),
        Some("stopped"),
        "the first end wins"
    );
    assert_eq!(s1.verdicts.len(), 1);
    assert!(s1.verdicts[0].allowed);
    assert_eq!(s1.verdicts[0].tier.as_deref(), Some("medium"));
    assert_eq!(s1.transcripts[0].text, "hello there");
    assert_eq!(s1.transcripts[0].latency_ms, Some(800));
    assert_eq!(s1.answers[0].text, "You said: hello there");
    assert_eq!(all.denied.len(), 2);
    assert_eq!(all.denied[0].reasons[0]["code"], "blocklisted");
    assert!(all.denied[0].session_id.is_none());
    assert_eq!(all.admin_actions.len(), 2);
    assert_eq!(all.truncated, Truncated::default());

    let by_call = run(
        &path,
        AuditQuery::new(Some("CA2"), None, None, None).unwrap(),
    );
    assert_eq!(by_call.calls.len(), 1);
    assert!(by_call.denied.is_empty());
    assert_eq!(by_call.admin_actions.len(), 1, "the hang-up of s2");
    assert_eq!(by_call.admin_actions[0].action, "call.hangup");

    let by_from = run(
        &path,
        AuditQuery::new(None, Some("+14155550100"), None, None).unwrap(),
    );
    assert_eq!(by_from.calls.len(), 2);
    assert_eq!(by_from.denied.len(), 1);
    assert_eq!(by_from.denied[0].call_id, "CA4");

    let by_prefix = run(
        &path,
        AuditQuery::new(None, Some("+44*"), None, None).unwrap(),
    );
    assert_eq!(by_prefix.calls.len(), 1);
    assert_eq!(by_prefix.calls[0].call_id, "CA3");
    assert!(by_prefix.admin_actions.is_empty());

    let since = run(
        &path,
        AuditQuery::new(None, None, Some("2025-01-31T11:00:00+01:00"), None).unwrap(),
    );
    let ids: Vec<&str> = since.calls.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["CA3", "CA2"]);

    let limited = run(&path, AuditQuery::new(None, None, None, Some(1)).unwrap());
    assert_eq!(limited.calls.len(), 1);
    assert_eq!(limited.calls[0].session_id, "s3");
    assert!(limited.truncated.calls && limited.truncated.denied);

    let none = run(
        &path,
        AuditQuery::new(Some("nope"), None, None, None).unwrap(),
    );
    assert!(none.calls.is_empty() && none.denied.is_empty() && none.admin_actions.is_empty());

    let text = render_text(&all);
    for needle in [
        "Calls: 3",
        "+14155550100 → +15005550006  via twilio",
        "stream MZ1",
        "ended    2025-01-31T09:01:00.000Z (stopped)",
        "verdict  allowed  tier medium",
        "caller  hello there  (800 ms)",
        "agent   You said: hello there",
        "Denied calls: 2",
        "rate_limited",
        "blocklisted",
        "Admin actions: 2",
        "call.hangup",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
}

#[test]
fn bad_parameters_are_named() {
    let pairs = |p: &[(&str, &str)]| {
        AuditQuery::from_pairs(
            &p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>(),
        )
    };
    for (input, param) in [
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "1001")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("since", "yesterday")], "since"),
        (vec![("since", "2025-01-31")], "since"),
        (vec![("from", "+1*415")], "from"),
        (vec![("from", "+1 415")], "from"),
        (vec![("limt", "5")], "limt"),
        (vec![("from", "+1"), ("from", "+2")], "from"),
    ] {
        let err = pairs(&input).unwrap_err();
        assert_eq!(err.param, param, "{input:?}: {err}");
        assert!(err.to_string().contains(&format!("`{param}`")), "{err}");
    }
    let ok = pairs(&[
        ("call_id", ""),
        ("from", " 14155550100"),
        ("since", "2025-01-31T09:00:00Z"),
        ("limit", "1000"),
    ])
    .unwrap();
    assert_eq!(ok.call_id, None, "empty means not given");
    assert_eq!(
        ok.from.as_deref(),
        Some("+14155550100"),
        "`+` decoded as space"
    );
    assert_eq!(ok.since.as_deref(), Some("2025-01-31T09:00:00.000Z"));
    assert_eq!(ok.limit, 1000);
    assert_eq!(pairs(&[]).unwrap().limit, DEFAULT_LIMIT);
    assert_eq!(
        ok.describe(),
        "from=+14155550100&since=2025-01-31T09:00:00.000Z&limit=1000"
    );
}

#[test]
fn the_event_bus_feeds_the_audit_trail_at_publish_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let audit = Audit::open(&path, 100).unwrap();
    // No subscriber at all: records are still taken.
    let bus = crate::events::EventBus::with_audit(16, Some(audit.sink()));
    bus.publish(
        Event::new(kinds::CALL_DENIED, "")
            .with("transport", "twilio")
            .with("call_id", "CA9")
            .with("from", "+14155550100")
            .with("to", "+15005550006")
            .with("reason", "blocklisted")
            .with("reasons", json!([{"code": "blocklisted", "message": "m"}])),
    );
    bus.publish(Event::new(kinds::DTMF, "s").with("digit", "1"));
    let reader = audit.reader();
    let totals = audit.close();
    assert_eq!(totals.written, 1);
    let report = reader.query(&AuditQuery::default()).unwrap();
    assert_eq!(report.denied[0].call_id, "CA9");
    assert!(!report.denied[0].allowed);
}

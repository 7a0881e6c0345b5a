//! One inbound `media` frame (160 µ-law bytes, 20 ms) through `on_frame`:
//! JSON parse + base64 + µ-law decode + hand-off to the sink. Target: < 5 µs.
//! Also one outbound 20 ms frame through `encode`.
//!
//! The sink is the testkit's recorder, cleared after every frame so it does
//! not grow; its copy of 160 samples is part of the number, as the host's
//! copy would be.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use twilio::{Twilio, TwilioStream};
use voicegate_plugin_api::{
    testkit::{self, Recorded},
    HttpRequest, MediaStream, OutboundAction, ROption, RSlice, RStr, StreamOpen, Transport,
    WsFrame,
};

const START: &str = include_str!("../tests/fixtures/02-start.json");
const MEDIA: &str = include_str!("../tests/fixtures/03-media.json");

fn started_stream() -> TwilioStream {
    let twilio = Twilio::new(testkit::context(
        "twilio",
        "https://voice.example.com",
        r#"{"validate_signatures":false}"#,
    ))
    .expect("config");
    let request = HttpRequest {
        method: RStr::from("GET"),
        path: RStr::from("stream/s"),
        full_path: RStr::from("/api/voice/twilio/stream/s"),
        query: RStr::from(""),
        headers: RSlice::from_slice(&[]),
        body: RSlice::from_slice(&[]),
        remote_addr: RStr::from("127.0.0.1:1"),
        public_url: RStr::from("https://voice.example.com"),
        peer_trusted: false,
    };
    let mut stream = twilio
        .open_stream(&StreamOpen {
            request,
            session_id: RStr::from(""),
            call: ROption::RNone,
        })
        .expect("open");
    let mut rec = Recorded::default();
    rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(START.trim_end())), out))
        .expect("start");
    stream
}

fn inbound(c: &mut Criterion) {
    let mut stream = started_stream();
    let mut rec = Recorded::default();
    let frame = MEDIA.trim_end();
    let mut group = c.benchmark_group("twilio");
    group.throughput(Throughput::Elements(1));
    group.bench_function("inbound_media_frame", |b| {
        b.iter(|| {
            rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(black_box(frame))), out))
                .expect("media");
            rec.audio.clear();
            rec.audio_calls.clear();
        })
    });

    let pcm: Vec<i16> = (0..160).map(|n| ((n % 40) as i16 - 20) * 800).collect();
    group.bench_function("outbound_media_frame", |b| {
        b.iter(|| {
            let action = OutboundAction::Audio(RSlice::from_slice(black_box(&pcm)));
            rec.frames(|out| stream.encode(&action, out))
                .expect("encode");
            rec.frames.clear();
        })
    });
    group.finish();
}

criterion_group!(benches, inbound);
criterion_main!(benches);

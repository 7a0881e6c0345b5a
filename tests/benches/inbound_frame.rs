//! One inbound Twilio frame end to end, as the host handles it: JSON parse,
//! base64, μ-law decode (the twilio plugin, called through its author
//! traits), then the host's 8 → 16 kHz streaming resampler, and then voice
//! activity / end-of-turn detection. Target: under 5 µs per frame.
//!
//! `cargo bench -p voicegate-e2e --bench inbound_frame`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use twilio::{Twilio, TwilioStream};
use voicegate::media::{
    resample::StreamResampler,
    turn::{TurnConfig, TurnDetector, TurnEvent},
    vad::VadConfig,
};
use voicegate_plugin_api::{
    testkit::{self, Recorded},
    HttpRequest, MediaStream, ROption, RSlice, RStr, StreamOpen, Transport, WsFrame,
};

const START: &str = include_str!("../../plugins/twilio/tests/fixtures/02-start.json");
const MEDIA: &str = include_str!("../../plugins/twilio/tests/fixtures/03-media.json");

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
    let mut resampler = StreamResampler::new(8_000, 16_000).expect("resampler");
    let mut turn = TurnDetector::new(&TurnConfig::default(), &VadConfig::default(), 16_000)
        .expect("turn detector");
    let mut resampled: Vec<i16> = Vec::with_capacity(1024);
    let mut events: Vec<TurnEvent> = Vec::with_capacity(4);
    let frame = MEDIA.trim_end();

    let mut group = c.benchmark_group("inbound_twilio_frame");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_base64_decode_resample", |b| {
        b.iter(|| {
            rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(black_box(frame))), out))
                .expect("media");
            resampled.clear();
            resampler.process(&rec.audio, &mut resampled);
            rec.audio.clear();
            rec.audio_calls.clear();
            black_box(&resampled);
        })
    });
    group.bench_function("parse_base64_decode_resample_vad", |b| {
        b.iter(|| {
            rec.events(|out| stream.on_frame(WsFrame::Text(RStr::from(black_box(frame))), out))
                .expect("media");
            resampled.clear();
            resampler.process(&rec.audio, &mut resampled);
            rec.audio.clear();
            rec.audio_calls.clear();
            events.clear();
            turn.push(&resampled, &mut events);
            black_box(&events);
        })
    });
    group.finish();
}

criterion_group!(benches, inbound);
criterion_main!(benches);

//! Speaking back, as a Twilio caller hears it: the real host with the
//! twilio, whisper, espeak, policy and echo/HTTP responder plugins, over
//! real sockets. The caller's phone talks and listens at once and plays the
//! part of Twilio's player (marks echoed once their audio has played,
//! `clear` empties the player and echoes pending marks).

use std::time::Duration;

use serde_json::Value;
use voicegate_e2e::{
    agent::{Agent, Reply},
    audio,
    host::{Host, ADMIN_TOKEN},
    phone::{Call, Heard},
    sse::{is, Events},
    twilio::{self, Stream},
};

const ECHO: &str = "[responders.echo]\nplugin = \"echo\"\n";

/// The twilio test config with whisper, espeak speaking the answers of
/// `responder` (a TOML table), and `turn` settings.
fn config(responder: &str, turn: &str) -> String {
    twilio::config(&format!(
        "[pipeline.turn]\n{turn}\n\n[stt.whisper]\nplugin = \"whisper\"\nmodel = \"{{{{MODEL}}}}\"\n\n[tts.espeak]\nplugin = \"espeak\"\n\n{responder}"
    ))
}

fn agent_responder(url: &str, timeout_ms: u64) -> String {
    format!(
        "[responders.agent]\nplugin = \"responder_http\"\nmode = \"webhook\"\nurl = \"{url}\"\ntimeout_ms = {timeout_ms}\napology = \"Sorry, the agent is slow today.\"\n"
    )
}

/// Places a call and starts its stream; returns the stream and session id.
async fn start_call(host: &Host, n: u64) -> (Stream, String) {
    let (stream, session, _) = twilio::call(host, n, "+14155550123").await;
    (stream, session)
}

async fn stats(host: &Host, session: &str) -> Value {
    host.admin_json(&format!("/api/calls/{session}")).await["stats"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_caller_hears_the_answer_paced_in_frames_with_marks() {
    voicegate_e2e::model_path();
    let question = "what time does the library open on saturday";
    let speech = audio::speak(question, "en-us", 150, 8000, 300, 0);
    let host = Host::start(&config(ECHO, ""));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let (mut stream, session) = start_call(&host, 1).await;

    let mut call = Call::default();
    let reply = stream.ask(&mut call, &speech).await;

    let answer = events
        .wait_for("voice.assistant.text", Duration::from_secs(5), |e| {
            is(e, "voice.assistant.text", &session)
        })
        .await;
    let answer = answer["text"].as_str().unwrap_or_default().to_owned();
    assert!(answer.starts_with("You said: "), "{answer}");

    // Fixed 20 ms frames, never slivers, and audible speech.
    let frames: Vec<&[u8]> = call.media().collect();
    assert!(frames.iter().all(|f| f.len() == 160), "frame sizes vary");
    let seconds = reply.len() as f64 / 8000.0;
    let words = answer.split_whitespace().count() as f64;
    assert!(
        seconds > words * 0.15 && seconds < words * 1.5 + 2.0,
        "{seconds:.2} s of audio for {words} words"
    );
    let rms = audio::mulaw_rms(&reply);
    assert!(rms > 300.0, "the reply is near silent (RMS {rms:.0})");

    // Paced at real time: the frames were not sent in a burst.
    let times: Vec<_> = call
        .heard
        .iter()
        .filter(|(_, _, h)| h.is_media())
        .map(|(_, t, _)| *t)
        .collect();
    let spread = times[times.len() - 1] - times[0];
    let floor = Duration::from_millis(20 * (times.len() as u64).saturating_sub(6));
    assert!(
        spread >= floor,
        "{} frames arrived within {spread:?}: not paced",
        times.len()
    );

    // Marks came with the audio, were echoed, and the host saw the end.
    let marks = call
        .heard
        .iter()
        .filter(|(_, _, h)| matches!(h, Heard::Mark(_)))
        .count();
    assert!(marks >= 2, "{marks} marks for {seconds:.1} s of audio");
    let speaking = events
        .wait_for("voice.assistant.speaking", Duration::from_secs(5), |e| {
            is(e, "voice.assistant.speaking", &session)
        })
        .await;
    assert!(speaking["latency_ms"].as_u64().is_some(), "{speaking}");
    events
        .wait_for("voice.assistant.played", Duration::from_secs(5), |e| {
            is(e, "voice.assistant.played", &session)
        })
        .await;
    let stats = stats(&host, &session).await;
    assert_eq!(stats["audio_chunks_out"], frames.len() as u64, "{stats}");
    assert_eq!(stats["marks_out"], marks as u64, "{stats}");
    assert_eq!(stats["marks_in"], call.marks_echoed.len() as u64, "{stats}");
    assert_eq!(stats["marks_stale"], 0, "{stats}");
    assert_eq!(stats["barge_ins"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_caller_interrupts_and_the_agent_remembers_only_what_was_heard() {
    voicegate_e2e::model_path();
    let long_answer = "Our opening hours are from nine in the morning until five in the evening \
        on weekdays, and from ten until two on Saturdays. On Sundays and public holidays we are \
        closed, but you can leave a message at any time and we will call you back.";
    let agent = Agent::start(vec![
        Reply::Text(long_answer.to_owned()),
        Reply::Text("Of course, go ahead.".to_owned()),
    ])
    .await;
    let host = Host::start(&config(
        &agent_responder(&agent.url, 5000),
        "barge_in_min_ms = 200",
    ));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let (mut stream, session) = start_call(&host, 2).await;
    let mut call = Call::default();

    // Ask, and let one second of the long answer play.
    let question = audio::speak("when are you open", "en-us", 150, 8000, 300, 0);
    let ok = stream
        .converse(&mut call, &question, Duration::from_secs(45), |c| {
            c.media().count() >= 50
        })
        .await;
    assert!(ok, "the answer did not start playing");

    let first = events
        .wait_for("voice.stt.final", Duration::from_secs(5), |e| {
            is(e, "voice.stt.final", &session)
        })
        .await;

    // Talk over it.
    let interruption = audio::speak("excuse me, what about sunday", "en-us", 150, 8000, 0, 0);
    let onset = audio_onset(&interruption);
    let speech_start = call.frames_sent + onset;
    let speech_end = call.frames_sent + (interruption.len() / 160) as u64;
    // Only a clear of this exchange counts.
    let heard_before = call.heard.len();
    let clear_of = |c: &Call| c.position_from(heard_before, |h| matches!(h, Heard::Clear));
    let ok = stream
        .converse(&mut call, &interruption, Duration::from_secs(5), |c| {
            clear_of(c).is_some() && c.frames_sent >= speech_end
        })
        .await;
    assert!(ok, "no clear while the caller talked over the answer");
    let clear = clear_of(&call).unwrap_or_default();
    let (cleared_at, _, _) = call.heard[clear];
    assert!(
        cleared_at >= speech_start,
        "clear at frame {cleared_at}, before the caller started speaking at {speech_start}"
    );
    let after_ms = (cleared_at - speech_start) * 20;
    println!("clear {after_ms} ms (call time) after the start of speech");
    assert!(
        after_ms <= 300,
        "clear came {after_ms} ms of call time after the caller started speaking"
    );
    // Nothing more of the interrupted answer after the clear.
    assert!(
        !call.heard[clear..]
            .iter()
            .any(|(at, _, h)| h.is_media() && *at < speech_end),
        "audio kept coming after the clear"
    );

    let interrupted = events
        .wait_for("voice.assistant.interrupted", Duration::from_secs(5), |e| {
            is(e, "voice.assistant.interrupted", &session)
        })
        .await;
    let heard = interrupted["heard"].as_str().unwrap_or_default().to_owned();
    assert!(!heard.is_empty(), "one second of speech was heard");
    assert!(
        long_answer.starts_with(heard.trim_end_matches(['.', ',']))
            && heard.len() < long_answer.len() / 2,
        "heard {heard:?} is not an early prefix of the answer"
    );

    // The interruption is the next turn (keep the line open until its
    // answer plays), and the agent's memory holds only what the caller heard
    // of the first answer.
    let ok = stream
        .converse(&mut call, &[], Duration::from_secs(45), |c| {
            c.heard[clear..]
                .iter()
                .filter(|(_, _, h)| h.is_media())
                .count()
                >= 10
        })
        .await;
    assert!(ok, "the interruption was not answered");
    let second = events
        .wait_for("voice.stt.final #2", Duration::from_secs(45), |e| {
            is(e, "voice.stt.final", &session) && e["text"] != first["text"]
        })
        .await;
    println!("second turn: {second}");
    voicegate_e2e::eventually(
        "the agent to get the second turn",
        Duration::from_secs(10),
        || {
            let n = agent.turns().len();
            async move { (n >= 2).then_some(()) }
        },
    )
    .await;
    let turns = agent.turns();
    let history = turns[1]["history"].as_array().cloned().unwrap_or_default();
    let assistant: Vec<&str> = history
        .iter()
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(assistant, vec![heard.as_str()], "history: {history:?}");
    assert!(events
        .seen()
        .iter()
        .all(|e| !is(e, "voice.assistant.played", &session) || e["reply"] != 1));
    let stats = stats(&host, &session).await;
    assert_eq!(stats["barge_ins"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_sound_over_the_answer_does_not_interrupt_it() {
    voicegate_e2e::model_path();
    let host = Host::start(&config(ECHO, "barge_in_min_ms = 700"));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let (mut stream, session) = start_call(&host, 3).await;
    let mut call = Call::default();
    let question = audio::speak(
        "please read me the full list of opening hours for every branch",
        "en-us",
        150,
        8000,
        300,
        0,
    );
    let ok = stream
        .converse(&mut call, &question, Duration::from_secs(45), |c| {
            c.media().count() >= 25
        })
        .await;
    assert!(ok, "the answer did not start playing");

    // "mm-hm": 400 ms of voiced sound, longer than min_speech_ms (200) and
    // shorter than barge_in_min_ms (700).
    let mm: Vec<i16> = (0..3200)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            ((t * 2.0 * std::f64::consts::PI * 180.0).sin() * 6000.0) as i16
        })
        .collect();
    let from = call.heard.len();
    let played = stream
        .converse(&mut call, &mm, Duration::from_secs(30), |c| {
            c.reply_played(0)
        })
        .await;
    assert!(played, "the answer did not play to its end");
    assert!(
        call.heard[from..]
            .iter()
            .all(|(_, _, h)| !matches!(h, Heard::Clear)),
        "a short sound interrupted the answer"
    );
    events
        .wait_for("voice.assistant.played", Duration::from_secs(5), |e| {
            is(e, "voice.assistant.played", &session)
        })
        .await;
    let stats = stats(&host, &session).await;
    assert_eq!(stats["barge_ins"], 0, "{stats}");
    assert_eq!(stats["backchannels"], 1, "{stats}");
    let finals = events
        .seen()
        .iter()
        .filter(|e| is(e, "voice.stt.final", &session))
        .count();
    assert_eq!(finals, 1, "the short sound was taken as a turn");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_failing_agent_is_answered_with_the_apology_and_the_call_goes_on() {
    voicegate_e2e::model_path();
    let agent = Agent::start(vec![
        Reply::Slow(Duration::from_secs(3), "too late".to_owned()),
        Reply::Status(500),
        Reply::Text("We open at nine.".to_owned()),
    ])
    .await;
    let host = Host::start(&config(&agent_responder(&agent.url, 800), ""));
    let mut events = Events::subscribe(&host.base, ADMIN_TOKEN).await;
    let (mut stream, session) = start_call(&host, 4).await;
    let mut call = Call::default();

    let mut said = Vec::new();
    for (i, question) in [
        "hello is anyone there",
        "can you hear me now",
        "when do you open",
    ]
    .iter()
    .enumerate()
    {
        let speech = audio::speak(question, "en-us", 150, 8000, 300, 0);
        let reply = stream.ask(&mut call, &speech).await;
        let rms = audio::mulaw_rms(&reply);
        assert!(rms > 300.0, "reply {i} is near silent (RMS {rms:.0})");
        let texts: Vec<String> = events
            .seen()
            .iter()
            .filter(|e| is(e, "voice.assistant.text", &session))
            .filter_map(|e| e["text"].as_str().map(str::to_owned))
            .collect();
        said.push(texts.last().cloned().unwrap_or_default());
        assert_eq!(texts.len(), i + 1, "one answer per question: {texts:?}");
    }
    assert_eq!(
        said,
        vec![
            "Sorry, the agent is slow today.",
            "Sorry, the agent is slow today.",
            "We open at nine."
        ]
    );
    let kinds: Vec<String> = events
        .seen()
        .iter()
        .filter(|e| is(e, "error", &session))
        .map(|e| {
            assert_eq!(e["stage"], "responder", "{e}");
            e["error_kind"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(kinds, vec!["timeout", "status"]);
    assert!(
        !events.seen().iter().any(|e| is(e, "call.ended", &session)),
        "the call ended"
    );
}

/// The first 20 ms frame of `pcm` (8 kHz) with speech-level energy.
fn audio_onset(pcm: &[i16]) -> u64 {
    pcm.chunks(160)
        .position(|f| {
            let energy: f64 = f.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            (energy / f.len().max(1) as f64).sqrt() > 300.0
        })
        .unwrap_or(0) as u64
}

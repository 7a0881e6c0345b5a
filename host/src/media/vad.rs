//! Energy-based voice activity detection with an adaptive noise floor.
//!
//! A gateway with a thousand calls on two cores cannot afford a neural VAD per frame, and
//! most calls are silent most of the time. This detector costs one pass of multiply-adds
//! and one `log10` per frame (about 20 ms of audio), with no allocation:
//!
//! * the frame's RMS level in dBFS is compared with
//!   `max(noise_floor + margin_db, threshold_db)`: the absolute threshold keeps a quiet line
//!   from turning hiss into speech, the margin keeps a noisy line (a car, a call centre)
//!   from being speech all the time;
//! * the noise floor follows frames judged *not* speech: quickly down (time constant
//!   [`FLOOR_DOWN_TAU_S`]), slowly up ([`FLOOR_UP_TAU_S`]), so a pause between words pulls
//!   it down while speech never pushes it up;
//! * optionally, frames whose zero-crossing rate exceeds `zcr_max` are not speech. Off by
//!   default: it rejects white-noise bursts and hiss, but also unvoiced fricatives (/s/,
//!   /f/), which only matters for utterances that start or end with one.
//!
//! A floor that only learns from non-speech frames cannot learn a *sudden, loud, steady*
//! background (a fan switched on next to the phone): every frame reads as speech. The turn
//! detector then cuts at `max_utterance_ms` and calls [`Vad::absorb_background`], which
//! lifts the floor to the lowest level of the last second or two; a steady sound has no
//! quieter frames and is learnt, while real speech always has pauses and barely moves it.
//!
//! Everything is deterministic: the same samples give the same decisions.

use serde::Deserialize;

/// Levels are clamped to this, so digital silence has a finite level.
pub const MIN_DBFS: f32 = -100.0;
/// Time constant of the noise floor falling toward quieter non-speech frames.
pub const FLOOR_DOWN_TAU_S: f32 = 0.1;
/// Time constant of the noise floor rising toward louder non-speech frames.
pub const FLOOR_UP_TAU_S: f32 = 2.0;
/// Length of each of the two buckets that remember the lowest recent level.
const MIN_BUCKET_MS: u32 = 1000;

/// Voice activity settings (a `[vad]`-style table).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// Absolute floor in dBFS: quieter frames are never speech. Default -45.
    pub threshold_db: f32,
    /// How far above the noise floor a frame must be to count as speech, in dB. Default 12.
    pub margin_db: f32,
    /// Frame length in milliseconds: 10, 20 or 30. Default 20.
    pub frame_ms: u32,
    /// Frames with a zero-crossing rate (crossings per sample, 0..=1) above this are not
    /// speech. Default: no check.
    pub zcr_max: Option<f32>,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold_db: -45.0,
            margin_db: 12.0,
            frame_ms: 20,
            zcr_max: None,
        }
    }
}

/// A [`VadConfig`] value out of range, or a sample rate the VAD cannot frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VadConfigError {
    /// A numeric setting is outside its allowed range.
    #[error("`{key}` = {value} is out of range; allowed: {allowed}")]
    OutOfRange {
        /// The config key, as written in the file.
        key: &'static str,
        /// The value found.
        value: f64,
        /// The allowed values, in words.
        allowed: &'static str,
    },
    /// The sample rate is unsupported or does not divide into whole frames.
    #[error("VAD cannot run at {sample_rate_hz} Hz with {frame_ms} ms frames")]
    SampleRate {
        /// The rate asked for.
        sample_rate_hz: u32,
        /// The frame length configured.
        frame_ms: u32,
    },
}

impl VadConfig {
    /// Every out-of-range setting, each naming its key (empty when valid).
    pub fn issues(&self) -> Vec<VadConfigError> {
        let mut issues = Vec::new();
        let mut check = |key, value: f64, ok: bool, allowed| {
            if !ok {
                issues.push(VadConfigError::OutOfRange {
                    key,
                    value,
                    allowed,
                });
            }
        };
        let t = self.threshold_db;
        check(
            "threshold_db",
            t.into(),
            (-90.0..=0.0).contains(&t),
            "-90.0 ..= 0.0",
        );
        let m = self.margin_db;
        check(
            "margin_db",
            m.into(),
            (0.0..=40.0).contains(&m),
            "0.0 ..= 40.0",
        );
        let f = self.frame_ms;
        check(
            "frame_ms",
            f.into(),
            matches!(f, 10 | 20 | 30),
            "10, 20 or 30",
        );
        if let Some(z) = self.zcr_max {
            check(
                "zcr_max",
                z.into(),
                z > 0.0 && z <= 1.0,
                "0.0 < zcr_max <= 1.0",
            );
        }
        issues
    }

    /// The first out-of-range setting, if any; see [`issues`](Self::issues) for all.
    pub fn validate(&self) -> Result<(), VadConfigError> {
        self.issues().into_iter().next().map_or(Ok(()), Err)
    }
}

/// What the VAD concluded about one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadFrame {
    /// Whether the frame is speech.
    pub speech: bool,
    /// The frame's RMS level in dBFS, at least [`MIN_DBFS`].
    pub level_db: f32,
    /// The level a frame had to exceed to be speech, as it stood for this frame.
    pub threshold_db: f32,
}

/// Voice activity detector for one call.
#[derive(Debug, Clone)]
pub struct Vad {
    threshold_db: f32,
    margin_db: f32,
    zcr_max: Option<f32>,
    frame_len: usize,
    frame_ms: u32,
    /// Per-frame smoothing factors derived from the time constants and the frame length.
    alpha_down: f32,
    alpha_up: f32,
    noise_floor_db: f32,
    /// Lowest level in the current and the previous bucket of [`MIN_BUCKET_MS`].
    min_current: f32,
    min_previous: f32,
    bucket_frames: u32,
    frames_in_bucket: u32,
}

impl Vad {
    /// A VAD for mono PCM at `sample_rate_hz` (8 to 48 kHz).
    pub fn new(config: &VadConfig, sample_rate_hz: u32) -> Result<Self, VadConfigError> {
        config.validate()?;
        let frame_ms = config.frame_ms;
        let samples = u64::from(sample_rate_hz) * u64::from(frame_ms);
        if !(8_000..=48_000).contains(&sample_rate_hz) || samples % 1000 != 0 {
            return Err(VadConfigError::SampleRate {
                sample_rate_hz,
                frame_ms,
            });
        }
        let frame_s = frame_ms as f32 / 1000.0;
        let mut vad = Self {
            threshold_db: config.threshold_db,
            margin_db: config.margin_db,
            zcr_max: config.zcr_max,
            // At most 48 kHz × 30 ms = 1440, so this cannot truncate.
            frame_len: (samples / 1000) as usize,
            frame_ms,
            alpha_down: 1.0 - (-frame_s / FLOOR_DOWN_TAU_S).exp(),
            alpha_up: 1.0 - (-frame_s / FLOOR_UP_TAU_S).exp(),
            noise_floor_db: 0.0,
            min_current: 0.0,
            min_previous: 0.0,
            bucket_frames: MIN_BUCKET_MS / frame_ms,
            frames_in_bucket: 0,
        };
        vad.reset();
        Ok(vad)
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Milliseconds per frame.
    pub fn frame_ms(&self) -> u32 {
        self.frame_ms
    }

    /// The current noise floor estimate, in dBFS.
    pub fn noise_floor_db(&self) -> f32 {
        self.noise_floor_db
    }

    /// Forgets what was learnt about the line, as for a new call.
    pub fn reset(&mut self) {
        // Start as if the floor sat at the absolute threshold: nothing below the threshold
        // is speech anyway, and a loud first frame is not mistaken for the floor.
        self.noise_floor_db = self.threshold_db;
        self.min_current = f32::INFINITY;
        self.min_previous = f32::INFINITY;
        self.frames_in_bucket = 0;
    }

    /// Classifies one frame and updates the noise floor.
    ///
    /// Meant for frames of [`frame_len`](Self::frame_len) samples; other lengths are
    /// accepted (the level is a mean), but the floor's time constants assume the
    /// configured length. An empty frame is silence.
    pub fn classify(&mut self, frame: &[i16]) -> VadFrame {
        let level_db = level_dbfs(frame);
        let threshold_db = (self.noise_floor_db + self.margin_db).max(self.threshold_db);
        let mut speech = level_db > threshold_db;
        if speech {
            if let Some(zcr_max) = self.zcr_max {
                speech = zero_crossing_rate(frame) <= zcr_max;
            }
        }
        if !speech {
            let alpha = if level_db < self.noise_floor_db {
                self.alpha_down
            } else {
                self.alpha_up
            };
            self.noise_floor_db += alpha * (level_db - self.noise_floor_db);
        }
        self.track_minimum(level_db);
        VadFrame {
            speech,
            level_db,
            threshold_db,
        }
    }

    /// Raises the noise floor to the lowest frame level of the last one to two seconds.
    ///
    /// Called by the turn detector when an utterance hits its maximum length: if the
    /// "speech" was a steady background, this learns it; real speech has pauses, whose
    /// low level leaves the floor almost where it was.
    pub fn absorb_background(&mut self) {
        let recent_min = self.min_current.min(self.min_previous);
        if recent_min.is_finite() {
            self.noise_floor_db = self.noise_floor_db.max(recent_min);
        }
    }

    fn track_minimum(&mut self, level_db: f32) {
        self.min_current = self.min_current.min(level_db);
        self.frames_in_bucket += 1;
        if self.frames_in_bucket >= self.bucket_frames {
            self.min_previous = self.min_current;
            self.min_current = f32::INFINITY;
            self.frames_in_bucket = 0;
        }
    }
}

/// RMS level of `frame` in dBFS (full-scale square wave = 0 dBFS), at least [`MIN_DBFS`].
pub fn level_dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return MIN_DBFS;
    }
    // Integer sum: exact and deterministic; 2^30 per sample leaves room for 2^33 samples.
    let energy: i64 = frame
        .iter()
        .map(|&s| {
            let s = i64::from(s);
            s * s
        })
        .sum();
    let mean = energy as f64 / frame.len() as f64;
    let full_scale = 32768.0f64 * 32768.0;
    let db = 10.0 * (mean / full_scale).log10();
    // `max` also turns the -inf of digital silence into MIN_DBFS.
    (db as f32).max(MIN_DBFS)
}

/// Fraction of adjacent sample pairs whose sign differs (zero counts as positive).
pub fn zero_crossing_rate(frame: &[i16]) -> f32 {
    if frame.len() < 2 {
        return 0.0;
    }
    let crossings = frame.windows(2).filter(|w| (w[0] ^ w[1]) < 0).count();
    crossings as f32 / (frame.len() - 1) as f32
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Deterministic white noise with the given RMS level in dBFS.
    pub(crate) fn noise(len: usize, level_db: f64, seed: u64) -> Vec<i16> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Uniform in [-1, 1) has RMS 1/sqrt(3).
        let amp = 32768.0 * 10f64.powf(level_db / 20.0) * 3f64.sqrt();
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                (u * amp).round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    /// A sine with the given RMS level in dBFS.
    pub(crate) fn tone(len: usize, freq: f64, level_db: f64, rate: u32) -> Vec<i16> {
        let amp = 32768.0 * 10f64.powf(level_db / 20.0) * 2f64.sqrt();
        (0..len)
            .map(|n| (amp * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16)
            .collect()
    }

    fn vad() -> Vad {
        Vad::new(&VadConfig::default(), 16000).unwrap()
    }

    fn classify_all(vad: &mut Vad, pcm: &[i16]) -> Vec<bool> {
        pcm.chunks_exact(vad.frame_len())
            .map(|f| vad.classify(f).speech)
            .collect()
    }

    #[test]
    fn levels_are_in_dbfs() {
        assert_eq!(level_dbfs(&[]), MIN_DBFS);
        assert_eq!(level_dbfs(&[0; 320]), MIN_DBFS);
        assert!(level_dbfs(&[i16::MIN; 320]).abs() < 0.01);
        let l = level_dbfs(&tone(320, 1000.0, -20.0, 16000));
        assert!((l + 20.0).abs() < 0.1, "{l}");
        let l = level_dbfs(&noise(3200, -50.0, 1));
        assert!((l + 50.0).abs() < 0.5, "{l}");
    }

    #[test]
    fn tone_over_quiet_noise_is_speech_and_noise_is_not() {
        let mut v = vad();
        let mut pcm = noise(16000, -60.0, 7);
        pcm.extend(tone(16000, 440.0, -25.0, 16000));
        pcm.extend(noise(16000, -60.0, 8));
        let d = classify_all(&mut v, &pcm);
        assert!(d[..50].iter().all(|s| !s));
        assert!(d[50..100].iter().all(|s| *s));
        assert!(d[100..].iter().all(|s| !s));
        assert!(
            (v.noise_floor_db() + 60.0).abs() < 1.0,
            "{}",
            v.noise_floor_db()
        );
    }

    #[test]
    fn absolute_threshold_applies_on_a_quiet_line() {
        // Floor near -90: the margin alone would call -70 speech; the threshold does not.
        let mut v = vad();
        let mut pcm = noise(16000, -90.0, 1);
        pcm.extend(tone(3200, 440.0, -70.0, 16000));
        pcm.extend(tone(3200, 440.0, -40.0, 16000));
        let d = classify_all(&mut v, &pcm);
        assert!(d[50..60].iter().all(|s| !s));
        assert!(d[60..70].iter().all(|s| *s));
    }

    #[test]
    fn margin_applies_on_a_noisy_line() {
        // Background at -35 dBFS (above the absolute threshold): the floor learns it within
        // a few seconds and only sound 12 dB above it is speech.
        let mut v = vad();
        let mut pcm = noise(16000 * 8, -35.0, 3);
        pcm.extend(noise(3200, -30.0, 4));
        let d = classify_all(&mut v, &pcm);
        assert!(d[..400].iter().all(|s| !s), "the noise was never speech");
        assert!(d[400..].iter().all(|s| !s), "+5 dB is below the margin");
        let mut louder = tone(3200, 300.0, -15.0, 16000);
        for (s, n) in louder.iter_mut().zip(noise(3200, -35.0, 5)) {
            *s = s.saturating_add(n);
        }
        assert!(classify_all(&mut v, &louder).iter().all(|s| *s));
    }

    #[test]
    fn floor_does_not_rise_during_speech() {
        let mut v = vad();
        classify_all(&mut v, &noise(16000, -60.0, 1));
        let floor = v.noise_floor_db();
        let d = classify_all(&mut v, &tone(16000 * 5, 200.0, -20.0, 16000));
        assert!(d.iter().all(|s| *s));
        assert_eq!(v.noise_floor_db(), floor);
    }

    #[test]
    fn absorb_background_learns_a_steady_sound_but_not_speech_with_pauses() {
        let mut v = vad();
        classify_all(&mut v, &noise(16000, -60.0, 1));
        let steady = tone(16000 * 3, 200.0, -20.0, 16000);
        classify_all(&mut v, &steady);
        v.absorb_background();
        assert!(classify_all(&mut v, &steady).iter().all(|s| !s));

        let mut v = vad();
        classify_all(&mut v, &noise(16000, -60.0, 1));
        // "Speech": 300 ms bursts with 100 ms pauses.
        for _ in 0..8 {
            classify_all(&mut v, &tone(4800, 200.0, -20.0, 16000));
            classify_all(&mut v, &noise(1600, -60.0, 2));
        }
        v.absorb_background();
        assert!(v.noise_floor_db() < -55.0, "{}", v.noise_floor_db());
    }

    #[test]
    fn zero_crossing_check_rejects_hiss_when_enabled() {
        let hiss = noise(3200, -20.0, 9);
        let voiced = tone(3200, 200.0, -20.0, 16000);
        assert!(zero_crossing_rate(&hiss) > 0.4);
        assert!(zero_crossing_rate(&voiced) < 0.05);

        let mut plain = vad();
        assert!(classify_all(&mut plain, &hiss).iter().all(|s| *s));
        let config = VadConfig {
            zcr_max: Some(0.3),
            ..VadConfig::default()
        };
        let mut zcr = Vad::new(&config, 16000).unwrap();
        assert!(classify_all(&mut zcr, &hiss).iter().all(|s| !s));
        assert!(classify_all(&mut zcr, &voiced).iter().all(|s| *s));
    }

    #[test]
    fn decisions_are_deterministic() {
        let mut pcm = noise(16000, -55.0, 11);
        pcm.extend(tone(8000, 300.0, -30.0, 16000));
        pcm.extend(noise(16000, -50.0, 12));
        let a = classify_all(&mut vad(), &pcm);
        let b = classify_all(&mut vad(), &pcm);
        assert_eq!(a, b);
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: VadConfig = toml::from_str("").unwrap();
        assert_eq!(c, VadConfig::default());
        assert_eq!(
            (c.threshold_db, c.margin_db, c.frame_ms, c.zcr_max),
            (-45.0, 12.0, 20, None)
        );
        let c: VadConfig = toml::from_str("threshold_db = -50.0\nframe_ms = 10").unwrap();
        assert_eq!((c.threshold_db, c.frame_ms), (-50.0, 10));
        let err = toml::from_str::<VadConfig>("threshold = -50.0").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `threshold`"),
            "{err}"
        );
    }

    #[test]
    fn config_issues_name_every_bad_key() {
        let c = VadConfig {
            threshold_db: 3.0,
            margin_db: f32::NAN,
            frame_ms: 25,
            zcr_max: Some(0.0),
        };
        let keys: Vec<_> = c
            .issues()
            .into_iter()
            .map(|e| match e {
                VadConfigError::OutOfRange { key, .. } => key,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(keys, ["threshold_db", "margin_db", "frame_ms", "zcr_max"]);
        assert!(Vad::new(&c, 16000).is_err());
        assert!(VadConfig::default().validate().is_ok());
    }

    #[test]
    fn frames_must_fit_the_rate() {
        let c = VadConfig::default();
        assert_eq!(Vad::new(&c, 8000).unwrap().frame_len(), 160);
        assert_eq!(Vad::new(&c, 16000).unwrap().frame_len(), 320);
        assert!(Vad::new(&c, 4000).is_err());
        let ten = VadConfig { frame_ms: 10, ..c };
        assert!(matches!(
            Vad::new(&ten, 22050),
            Err(VadConfigError::SampleRate { .. })
        ));
    }
}

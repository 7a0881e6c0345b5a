//! Hand-written bindings to libespeak-ng and the one process-wide engine.
//!
//! The bindings cover the few functions of `speak_lib.h` (API revision 12,
//! Debian 12's espeak-ng 1.51) this plugin needs; bindgen would be more
//! machinery than the nine declarations below.
//!
//! libespeak-ng keeps all of its state in globals and is not reentrant: one
//! voice, one set of parameters, one synthesis at a time for the whole
//! process. So the engine is initialised once ([`engine`], a `OnceLock`), and
//! every use goes through one global `Mutex` ([`Engine`]): concurrent
//! syntheses, from any instance, queue on it and run one after the other.
//! Each synthesis selects its own voice and parameters under the lock, so
//! instances with different settings do not see each other's.
//!
//! The engine runs in `AUDIO_OUTPUT_SYNCHRONOUS` mode: `espeak_Synth` returns
//! only when synthesis has finished, and calls the synth callback on the
//! calling thread, with short buffers ([`BUFFER_MS`]) as they are produced,
//! so the caller can forward each one at once.
//!
//! `espeak_Terminate` is deliberately not bound: the engine is shared by
//! every instance for the life of the process (plugin libraries are never
//! unloaded), so there is no point at which terminating it is correct.

#![allow(unsafe_code)]

use std::{
    any::Any,
    ffi::{c_char, c_int, c_short, c_uint, c_void, CStr, CString},
    panic::{self, AssertUnwindSafe},
    path::PathBuf,
    ptr,
    sync::{Mutex, MutexGuard, OnceLock},
};

/// Length of the buffers handed to the synth callback, in milliseconds.
/// Short buffers let playback start, and barge-in stop synthesis, sooner;
/// the host re-frames audio into its own 20 ms frames anyway. espeak-ng 1.51
/// does not go below about 49 ms (1081 samples) whatever is asked, so 50 is
/// the shortest that means what it says.
pub(crate) const BUFFER_MS: c_int = 50;

mod sys {
    //! The C declarations, as in `/usr/include/espeak-ng/speak_lib.h`.

    use super::{c_char, c_int, c_short, c_uint, c_void};

    /// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`.
    pub(super) const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    /// `espeakINITIALIZE_DONT_EXIT`: without it, a missing data directory
    /// makes `espeak_Initialize` call `exit(1)`, killing the host.
    pub(super) const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    /// `espeak_POSITION_TYPE::POS_CHARACTER`.
    pub(super) const POS_CHARACTER: c_int = 1;
    /// `espeakCHARS_UTF8` (no `espeakSSML`: text is spoken, never parsed as
    /// markup; no `espeakENDPAUSE`: no trailing silence).
    pub(super) const CHARS_UTF8: c_uint = 1;
    /// `espeak_ERROR::EE_OK`.
    pub(super) const EE_OK: c_int = 0;
    /// `espeak_PARAMETER` values.
    pub(super) const RATE: c_int = 1;
    pub(super) const VOLUME: c_int = 2;
    pub(super) const PITCH: c_int = 3;

    /// `espeak_EVENT`. Only `user_data` is read; the rest is declared so
    /// that the layout matches (40 bytes on 64-bit targets).
    #[repr(C)]
    #[allow(dead_code)] // fields other than `user_data` exist for the layout
    pub(super) struct Event {
        pub(super) kind: c_int,
        pub(super) unique_identifier: c_uint,
        pub(super) text_position: c_int,
        pub(super) length: c_int,
        pub(super) audio_position: c_int,
        pub(super) sample: c_int,
        pub(super) user_data: *mut c_void,
        pub(super) id: EventId,
    }

    /// The `id` union of `espeak_EVENT`.
    #[repr(C)]
    #[allow(dead_code)] // never read, declared for the layout
    pub(super) union EventId {
        pub(super) number: c_int,
        pub(super) name: *const c_char,
        pub(super) string: [c_char; 8],
    }

    /// `espeak_VOICE`, used as the selection criteria of
    /// `espeak_SetVoiceByProperties` and as the record returned by
    /// `espeak_GetCurrentVoice` (of which only `identifier` is read).
    #[repr(C)]
    #[allow(dead_code)] // fields other than `identifier` exist for the layout
    pub(super) struct Voice {
        pub(super) name: *const c_char,
        pub(super) languages: *const c_char,
        pub(super) identifier: *const c_char,
        pub(super) gender: u8,
        pub(super) age: u8,
        pub(super) variant: u8,
        pub(super) xx1: u8,
        pub(super) score: c_int,
        pub(super) spare: *mut c_void,
    }

    /// `t_espeak_callback`: returns 0 to continue, 1 to abort synthesis.
    pub(super) type SynthCallback =
        unsafe extern "C" fn(wav: *mut c_short, numsamples: c_int, events: *mut Event) -> c_int;

    // Enum parameters are C `enum`s, passed as `int` by the platform ABI.
    #[link(name = "espeak-ng")]
    extern "C" {
        pub(super) fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub(super) fn espeak_SetSynthCallback(callback: Option<SynthCallback>);
        pub(super) fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub(super) fn espeak_SetVoiceByProperties(voice_spec: *const Voice) -> c_int;
        pub(super) fn espeak_GetCurrentVoice() -> *const Voice;
        pub(super) fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int)
            -> c_int;
        #[allow(clippy::too_many_arguments)]
        pub(super) fn espeak_Synth(
            text: *const c_void,
            size: usize,
            position: c_uint,
            position_type: c_int,
            end_position: c_uint,
            flags: c_uint,
            unique_identifier: *mut c_uint,
            user_data: *mut c_void,
        ) -> c_int;
        pub(super) fn espeak_Synchronize() -> c_int;
        pub(super) fn espeak_Info(path_data: *mut *const c_char) -> *const c_char;
    }
}

/// What can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    /// `espeak_Initialize` failed or found no data.
    #[error("cannot initialise espeak-ng: {0}")]
    Init(String),
    /// `espeak_SetVoiceByName` did not find the voice.
    #[error(
        "no espeak-ng voice named `{voice}` (try a language code such as `en-us`, `en-gb`, `de`, \
         optionally with a variant: `en-us+f3`; `espeak-ng --voices` lists them)"
    )]
    VoiceNotFound {
        /// The name asked for.
        voice: String,
    },
    /// `espeak_SetParameter` refused a value.
    #[error("espeak-ng refused {name} = {value} (error {code})")]
    Parameter {
        /// `rate`, `pitch` or `volume`.
        name: &'static str,
        /// The value.
        value: u32,
        /// The `espeak_ERROR` code.
        code: c_int,
    },
    /// `espeak_Synth` failed.
    #[error("espeak-ng synthesis failed (error {code})")]
    Synth {
        /// The `espeak_ERROR` code.
        code: c_int,
    },
}

/// Facts about the initialised library.
#[derive(Debug, Clone)]
pub(crate) struct EngineInfo {
    /// The rate of every sample the engine produces (22050 Hz for espeak-ng).
    pub(crate) sample_rate: u32,
    /// The library's version string.
    pub(crate) version: String,
    /// The `espeak-ng-data` directory in use.
    pub(crate) data_path: PathBuf,
}

/// Speaking parameters set before each synthesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// Words per minute, 80..=450.
    pub(crate) rate: u32,
    /// 0..=99, 50 normal.
    pub(crate) pitch: u32,
    /// 0..=200, 100 normal.
    pub(crate) volume: u32,
}

/// How a synthesis ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Synthesized {
    /// Samples handed to the chunk function.
    pub(crate) samples: usize,
    /// Chunks handed to it.
    pub(crate) chunks: usize,
    /// The chunk function returned `false`, and synthesis was aborted.
    pub(crate) stopped: bool,
}

/// The process-wide engine. Only reachable through the lock in [`engine`].
pub(crate) struct Engine {
    info: EngineInfo,
    /// The voice selected last, so that consecutive syntheses with the same
    /// voice do not reload it. `None` when unknown (after a failure).
    voice: Option<String>,
}

static ENGINE: OnceLock<Result<Mutex<Engine>, String>> = OnceLock::new();

/// The engine, initialised on first use.
fn engine() -> Result<&'static Mutex<Engine>, EngineError> {
    ENGINE
        .get_or_init(|| initialize().map(Mutex::new))
        .as_ref()
        .map_err(|message| EngineError::Init(message.clone()))
}

/// Locks the engine; every synthesis and voice change happens under it.
pub(crate) fn lock() -> Result<MutexGuard<'static, Engine>, EngineError> {
    let mutex = engine()?;
    Ok(mutex.lock().unwrap_or_else(|poisoned| {
        // A panic unwound through a synthesis (from the chunk function, after
        // the engine had stopped cleanly): the engine is fine, but forget the
        // cached voice so that the next synthesis selects it again.
        let mut guard = poisoned.into_inner();
        guard.voice = None;
        mutex.clear_poison();
        guard
    }))
}

fn initialize() -> Result<Engine, String> {
    // SAFETY: called once (inside `OnceLock::get_or_init`), before any other
    // espeak function. A null path selects `$ESPEAK_DATA_PATH` or the
    // compiled-in data directory; DONT_EXIT makes a missing directory an
    // error instead of `exit(1)`.
    let rate = unsafe {
        sys::espeak_Initialize(
            sys::AUDIO_OUTPUT_SYNCHRONOUS,
            BUFFER_MS,
            ptr::null(),
            sys::INITIALIZE_DONT_EXIT,
        )
    };
    let mut data: *const c_char = ptr::null();
    // SAFETY: `espeak_Info` writes a pointer to a static string into `data`
    // and returns another static string; both are NUL-terminated or null.
    let version = unsafe { sys::espeak_Info(&mut data) };
    let version = c_string(version);
    let data_path = PathBuf::from(c_string(data));
    // With DONT_EXIT, a missing data directory is only reported on stderr
    // (and `espeak_Initialize` returns 0): check for the phoneme table.
    let sample_rate = u32::try_from(rate).unwrap_or(0);
    if sample_rate == 0 || !data_path.join("phontab").is_file() {
        return Err(format!(
            "no usable espeak-ng data in `{}` (espeak_Initialize returned {rate}); install \
             Debian's espeak-ng-data, or set ESPEAK_DATA_PATH to the directory that contains \
             espeak-ng-data",
            data_path.display()
        ));
    }
    // SAFETY: `synth_callback` has the `t_espeak_callback` signature and
    // stays valid for the life of the process.
    unsafe { sys::espeak_SetSynthCallback(Some(synth_callback)) };
    Ok(Engine {
        info: EngineInfo {
            sample_rate,
            version,
            data_path,
        },
        voice: None,
    })
}

/// `espeak_SetVoiceByName`.
fn set_voice_by_name(name: &str) -> Result<(), ()> {
    let name = CString::new(name).map_err(|_| ())?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; the
    // caller holds the engine lock, so no other espeak call runs meanwhile.
    let code = unsafe { sys::espeak_SetVoiceByName(name.as_ptr()) };
    if code == sys::EE_OK {
        Ok(())
    } else {
        Err(())
    }
}

/// `espeak_SetVoiceByProperties` with only a language; returns the file
/// identifier of the voice selected (`gmw/en` for `en-gb`).
fn set_voice_by_language(language: &str) -> Option<String> {
    let language = CString::new(language).ok()?;
    let spec = sys::Voice {
        name: ptr::null(),
        languages: language.as_ptr(),
        identifier: ptr::null(),
        gender: 0,
        age: 0,
        variant: 0,
        xx1: 0,
        score: 0,
        spare: ptr::null_mut(),
    };
    // SAFETY: `spec` is a valid `espeak_VOICE` whose string fields are null
    // or NUL-terminated and outlive the call (espeak copies what it keeps);
    // the caller holds the engine lock.
    let code = unsafe { sys::espeak_SetVoiceByProperties(&spec) };
    if code != sys::EE_OK {
        return None;
    }
    // SAFETY: no arguments; returns null or a pointer to espeak's static
    // current-voice record, valid until the next voice change, which cannot
    // happen while the caller holds the engine lock.
    let current = unsafe { sys::espeak_GetCurrentVoice() };
    if current.is_null() {
        return None;
    }
    // SAFETY: `current` is non-null and points to a valid record (above).
    let identifier = c_string(unsafe { (*current).identifier });
    (!identifier.is_empty()).then_some(identifier)
}

fn c_string(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: callers pass null or pointers from `espeak_Info` /
    // `espeak_GetCurrentVoice`, which point to NUL-terminated strings that
    // stay valid while the engine lock is held.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

impl Engine {
    /// Facts about the library.
    pub(crate) fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// Selects a voice the way the `espeak-ng -v` command does: first by
    /// name or file (`en-us`, `en-us+f3`, `gmw/en`, `English (America)`),
    /// then as a language code (`en-gb`, `pt-br`), keeping a `+variant`.
    pub(crate) fn select_voice(&mut self, voice: &str) -> Result<(), EngineError> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        // Whatever happens below, the selected voice is unknown until it
        // succeeds (a failed lookup may still switch voices).
        self.voice = None;
        let not_found = || EngineError::VoiceNotFound {
            voice: voice.to_owned(),
        };
        if voice.trim().is_empty() {
            return Err(not_found());
        }
        if set_voice_by_name(voice).is_ok() {
            self.voice = Some(voice.to_owned());
            return Ok(());
        }
        let (language, variant) = match voice.split_once('+') {
            Some((language, variant)) => (language, Some(variant)),
            None => (voice, None),
        };
        let identifier = set_voice_by_language(language).ok_or_else(not_found)?;
        if let Some(variant) = variant {
            set_voice_by_name(&format!("{identifier}+{variant}")).map_err(|()| not_found())?;
        }
        self.voice = Some(voice.to_owned());
        Ok(())
    }

    /// Sets rate, pitch and volume for the following syntheses.
    pub(crate) fn set_params(&mut self, params: Params) -> Result<(), EngineError> {
        for (name, parameter, value) in [
            ("rate", sys::RATE, params.rate),
            ("pitch", sys::PITCH, params.pitch),
            ("volume", sys::VOLUME, params.volume),
        ] {
            let c_value = c_int::try_from(value).unwrap_or(c_int::MAX);
            // SAFETY: plain integers; we hold the engine lock.
            let code = unsafe { sys::espeak_SetParameter(parameter, c_value, 0) };
            if code != sys::EE_OK {
                return Err(EngineError::Parameter { name, value, code });
            }
        }
        Ok(())
    }

    /// Synthesizes `text` (UTF-8 without NUL bytes, spoken as plain text)
    /// with the current voice and parameters, calling `on_chunk` with each
    /// buffer as it is produced. When `on_chunk` returns `false`, synthesis
    /// is aborted and this returns `Ok` with `stopped` set.
    ///
    /// A panic in `on_chunk` aborts synthesis and is resumed here, after the
    /// engine has stopped cleanly (never across the C frames).
    pub(crate) fn synthesize(
        &mut self,
        text: &CStr,
        on_chunk: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<Synthesized, EngineError> {
        let mut state = CallbackState {
            on_chunk,
            result: Synthesized {
                samples: 0,
                chunks: 0,
                stopped: false,
            },
            panic: None,
        };
        let user_data = ptr::addr_of_mut!(state).cast::<c_void>();
        let size = text.to_bytes_with_nul().len();
        // SAFETY: `text` is NUL-terminated and `size` is its length with the
        // NUL. In synchronous mode `espeak_Synth` calls `synth_callback` on
        // this thread and only until it returns, so `user_data` (a pointer
        // to `state`, which outlives the call and is not otherwise touched
        // meanwhile) is valid whenever the callback reads it. We hold the
        // engine lock, so no other espeak call runs meanwhile.
        let code = unsafe {
            sys::espeak_Synth(
                text.as_ptr().cast(),
                size,
                0,
                sys::POS_CHARACTER,
                0,
                sys::CHARS_UTF8,
                ptr::null_mut(),
                user_data,
            )
        };
        // SAFETY: no arguments; in synchronous mode synthesis is already
        // complete, this is a cheap no-op kept for the engine's contract.
        unsafe { sys::espeak_Synchronize() };
        if let Some(payload) = state.panic.take() {
            panic::resume_unwind(payload);
        }
        if code != sys::EE_OK {
            return Err(EngineError::Synth { code });
        }
        Ok(state.result)
    }
}

/// What the callback needs, reached through the events' `user_data`.
struct CallbackState<'a> {
    on_chunk: &'a mut dyn FnMut(&[i16]) -> bool,
    result: Synthesized,
    panic: Option<Box<dyn Any + Send + 'static>>,
}

/// The synth callback: forwards each buffer to the current synthesis.
unsafe extern "C" fn synth_callback(
    wav: *mut c_short,
    numsamples: c_int,
    events: *mut sys::Event,
) -> c_int {
    const CONTINUE: c_int = 0;
    const ABORT: c_int = 1;
    if events.is_null() {
        return ABORT;
    }
    // SAFETY: espeak passes an event list of at least one entry (the
    // terminator), each carrying the `user_data` given to `espeak_Synth`.
    let user_data = unsafe { (*events).user_data };
    if user_data.is_null() {
        return ABORT;
    }
    // SAFETY: `user_data` is the `CallbackState` that `Engine::synthesize`
    // created and that outlives its `espeak_Synth` call, during which alone
    // this callback runs (synchronous mode, same thread). Nothing else
    // accesses it meanwhile, so a unique reference is sound.
    let state = unsafe { &mut *user_data.cast::<CallbackState<'_>>() };
    if state.result.stopped || state.panic.is_some() {
        return ABORT;
    }
    // A null buffer marks the end of synthesis; empty buffers happen and mean
    // nothing.
    let Ok(len) = usize::try_from(numsamples) else {
        return CONTINUE;
    };
    if wav.is_null() || len == 0 {
        return CONTINUE;
    }
    // SAFETY: espeak guarantees `wav` points to `numsamples` samples, valid
    // until the callback returns; `c_short` is `i16`.
    let pcm: &[i16] = unsafe { std::slice::from_raw_parts(wav, len) };
    // Never unwind into C: catch, abort synthesis, resume after it.
    match panic::catch_unwind(AssertUnwindSafe(|| (state.on_chunk)(pcm))) {
        Ok(more) => {
            state.result.samples += len;
            state.result.chunks += 1;
            if more {
                CONTINUE
            } else {
                state.result.stopped = true;
                ABORT
            }
        }
        Err(payload) => {
            state.panic = Some(payload);
            ABORT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_layout_matches_the_header() {
        // type, unique_identifier, text_position, length, audio_position,
        // sample: 6 × 4 bytes, then user_data and the union.
        assert_eq!(std::mem::offset_of!(sys::Event, user_data), 24);
        assert_eq!(
            std::mem::size_of::<sys::Event>(),
            24 + 2 * std::mem::size_of::<*const c_void>()
        );
    }

    #[test]
    fn initialises_once_at_22050_hz() {
        let engine = lock().unwrap();
        assert_eq!(engine.info().sample_rate, 22050);
        assert!(engine.info().data_path.join("phontab").is_file());
        assert!(!engine.info().version.is_empty());
    }
}

//! Cleaning whisper's output: non-speech annotations are not words.
//!
//! Whisper was trained on subtitles, so on silence, noise or music it writes
//! annotations such as `[BLANK_AUDIO]`, `(music)`, `[ Silence ]`, `*coughs*`
//! or `♪`. A voice agent must see those as "nothing was said".

/// Words that make a `(…)` or `*…*` span a sound annotation.
///
/// Square brackets are always annotations; parentheses and asterisks are only
/// when the words inside are all sound words, so "(555) 123" survives.
const SOUND_WORDS: &[&str] = &[
    "applause",
    "audio",
    "background",
    "beep",
    "beeping",
    "blank",
    "blank_audio",
    "breathing",
    "buzzing",
    "chatter",
    "clapping",
    "click",
    "clicking",
    "cough",
    "coughing",
    "coughs",
    "crowd",
    "dial",
    "inaudible",
    "indistinct",
    "laugh",
    "laughing",
    "laughs",
    "laughter",
    "music",
    "noise",
    "noises",
    "pause",
    "playing",
    "ringing",
    "sigh",
    "sighs",
    "silence",
    "sound",
    "speaking",
    "static",
    "tone",
    "typing",
    "upbeat",
    "wind",
];

/// Removes sound annotations and tidies whitespace. Returns an empty string
/// when nothing with a letter or digit is left.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['[', '(', '*', '♪', '♫', '♬', '♩']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let Some(open) = tail.chars().next() else {
            break;
        };
        let close = match open {
            '[' => ']',
            '(' => ')',
            '*' => '*',
            // A music sign on its own: drop it.
            _ => {
                rest = &tail[open.len_utf8()..];
                continue;
            }
        };
        let inner_start = open.len_utf8();
        match tail[inner_start..].find(close) {
            Some(len) => {
                let inner = &tail[inner_start..inner_start + len];
                let after = &tail[inner_start + len + close.len_utf8()..];
                if open == '[' || is_sound_annotation(inner) {
                    out.push(' ');
                } else {
                    out.push_str(&tail[..inner_start + len + close.len_utf8()]);
                }
                rest = after;
            }
            None if open == '[' => {
                // An annotation cut off at the end of a segment.
                rest = "";
            }
            None => {
                out.push(open);
                rest = &tail[inner_start..];
            }
        }
    }
    out.push_str(rest);
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().any(char::is_alphanumeric) {
        collapsed
    } else {
        String::new()
    }
}

fn is_sound_annotation(inner: &str) -> bool {
    let mut words = inner
        .split(|c: char| c.is_whitespace() || c == '-' || c == ',')
        .filter(|w| !w.is_empty())
        .peekable();
    words.peek().is_some()
        && words.all(|w| {
            let w = w.to_lowercase();
            SOUND_WORDS.contains(&w.as_str()) || matches!(w.as_str(), "a" | "the" | "of" | "in")
        })
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn annotations_alone_become_empty() {
        for s in [
            "[BLANK_AUDIO]",
            " [BLANK_AUDIO]",
            "(music)",
            " [silence]",
            "[ Silence ]",
            "(upbeat music)",
            "*coughs*",
            "♪ ♪",
            "♪",
            "[MUSIC PLAYING]",
            "(inaudible)",
            " .",
            "",
            "   ",
            "[Music",
        ] {
            assert_eq!(clean(s), "", "{s:?}");
        }
    }

    #[test]
    fn speech_is_kept_and_annotations_inside_it_removed() {
        assert_eq!(clean(" Hello there."), "Hello there.");
        assert_eq!(clean("Hello [BLANK_AUDIO] world"), "Hello world");
        assert_eq!(clean("(laughs) That's right."), "That's right.");
        assert_eq!(clean("Yes ♪ no"), "Yes no");
        assert_eq!(clean("Call (555) 123 4567"), "Call (555) 123 4567");
        assert_eq!(clean("It is (I think) fine"), "It is (I think) fine");
        assert_eq!(clean("a * b"), "a * b");
        assert_eq!(clean("3 * 4 * 5"), "3 * 4 * 5");
    }
}

//! Reply text as the speaker handles it: cut into sentences before synthesis
//! (so the first sentence plays while later ones are synthesized, and marks
//! can say which sentences the caller heard), and cut back to what was heard
//! when the caller interrupts.

/// Longest segment, in characters, before a sentence is cut at a comma or a
/// space: a long unpunctuated answer would otherwise delay the first audio by
/// its whole synthesis.
const MAX_SEGMENT_CHARS: usize = 200;

/// Splits `text` into speakable segments: sentences, and long sentences at
/// a clause or word boundary. Whitespace is normalised; nothing else is
/// changed, so the segments joined with spaces give the text back.
pub fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        let ends_sentence = word.ends_with(['.', '!', '?', ';', ':', '…'])
            // "e.g." and "3.5" are not sentence ends worth a pause.
            && !is_abbreviation(word);
        let too_long = current.chars().count() >= MAX_SEGMENT_CHARS;
        if ends_sentence || too_long {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn is_abbreviation(word: &str) -> bool {
    let trimmed = word.trim_end_matches('.');
    // Single letters ("U.S.", "e.g.") and common titles.
    trimmed.contains('.')
        || matches!(
            trimmed.to_ascii_lowercase().as_str(),
            "mr" | "mrs" | "ms" | "dr" | "st" | "vs" | "etc" | "no"
        )
}

/// The words of `segment` the caller heard when `fraction` (0..=1) of its
/// audio had played. Speech runs roughly evenly over words, so the
/// proportional prefix is a fair estimate; a word is counted once half of its
/// share has played.
pub fn heard_prefix(segment: &str, fraction: f64) -> String {
    let words: Vec<&str> = segment.split_whitespace().collect();
    if words.is_empty() || fraction <= 0.0 {
        return String::new();
    }
    let n = ((words.len() as f64) * fraction.min(1.0) + 0.5).floor() as usize;
    words[..n.min(words.len())].join(" ")
}

/// What the caller heard of a reply: every segment whose audio fully played,
/// and the proportional part of the one playing. `ends` holds each
/// segment's end position in samples (as far as known), `heard` the number of
/// samples heard.
pub fn heard_text(segments: &[String], ends: &[u64], heard: u64) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut start = 0u64;
    for (text, &end) in segments.iter().zip(ends) {
        if heard >= end {
            parts.push(text.clone());
        } else {
            let len = end.saturating_sub(start).max(1);
            let fraction = heard.saturating_sub(start) as f64 / len as f64;
            let prefix = heard_prefix(text, fraction);
            if !prefix.is_empty() {
                parts.push(prefix);
            }
            break;
        }
        start = end;
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_and_keeps_every_word() {
        let text = "Hello there.  How are you today? I am fine!  Thanks";
        let s = segments(text);
        assert_eq!(
            s,
            vec!["Hello there.", "How are you today?", "I am fine!", "Thanks"]
        );
        assert_eq!(
            s.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn abbreviations_do_not_end_sentences() {
        assert_eq!(
            segments("Dr. Smith lives in the U.S. today. Bye."),
            vec!["Dr. Smith lives in the U.S. today.", "Bye."]
        );
    }

    #[test]
    fn long_sentences_are_cut_at_a_word_boundary() {
        let text = "word ".repeat(100);
        let s = segments(&text);
        assert!(s.len() > 1);
        assert!(s.iter().all(|x| x.chars().count() <= MAX_SEGMENT_CHARS + 5));
        assert_eq!(s.join(" ").split(' ').count(), 100);
    }

    #[test]
    fn empty_text_has_no_segments() {
        assert!(segments("   ").is_empty());
    }

    #[test]
    fn heard_prefix_is_proportional() {
        let s = "one two three four";
        assert_eq!(heard_prefix(s, 0.0), "");
        assert_eq!(heard_prefix(s, 0.1), "");
        assert_eq!(heard_prefix(s, 0.5), "one two");
        assert_eq!(heard_prefix(s, 0.9), "one two three four");
        assert_eq!(heard_prefix(s, 2.0), "one two three four");
    }

    #[test]
    fn heard_text_spans_segments() {
        let segs = vec!["Hello there.".to_owned(), "How are you today?".to_owned()];
        let ends = [1000, 3000];
        assert_eq!(heard_text(&segs, &ends, 0), "");
        assert_eq!(heard_text(&segs, &ends, 1000), "Hello there.");
        assert_eq!(heard_text(&segs, &ends, 2000), "Hello there. How are");
        assert_eq!(
            heard_text(&segs, &ends, 5000),
            "Hello there. How are you today?"
        );
        // A segment whose end is not known yet was not heard.
        assert_eq!(heard_text(&segs, &ends[..1], 5000), "Hello there.");
    }
}

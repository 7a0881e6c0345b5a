//! Vocabulary loading and GPT-2 byte-level decoding.
//!
//! CTranslate2 stores the Whisper vocabulary as text in GPT-2's byte-level
//! alphabet (`bytes_to_unicode()`): every byte is represented by one Unicode
//! character (`Ġ` is a space, `Ċ` a newline, ...). The ggml file wants the raw
//! bytes of each ordinary token, i.e. every entry before `<|endoftext|>`;
//! whisper.cpp recreates the special and timestamp tokens itself.

use std::path::{Path, PathBuf};

use crate::error::ImportError;

/// The token that ends the ordinary (byte-level) part of the vocabulary.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's `bytes_to_unicode()`: the character that represents each byte.
///
/// The printable bytes `!`..=`~`, `¡`..=`¬` and `®`..=`ÿ` map to the code point of
/// the same value; the other 68 bytes map, in increasing order, to U+0100..=U+0143.
pub fn byte_encoder() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        let code = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        // All codes are below 0x144, so they are valid scalar values.
        *slot = char::from_u32(code).unwrap_or('\u{fffd}');
    }
    table
}

/// The inverse of [`byte_encoder`]: maps a character back to its byte.
#[derive(Clone, Debug)]
pub struct ByteDecoder {
    // Indexed by code point; all encoder outputs are < 324.
    table: [Option<u8>; 324],
}

impl Default for ByteDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ByteDecoder {
    /// Builds the decoder table.
    pub fn new() -> Self {
        let mut table = [None; 324];
        for (b, c) in byte_encoder().into_iter().enumerate() {
            table[c as usize] = Some(b as u8);
        }
        ByteDecoder { table }
    }

    /// The byte that `c` stands for, if `c` is in the alphabet.
    pub fn byte(&self, c: char) -> Option<u8> {
        self.table.get(c as usize).copied().flatten()
    }

    /// Decodes a whole token. On failure returns the offending character.
    pub fn decode(&self, token: &str) -> Result<Vec<u8>, char> {
        token.chars().map(|c| self.byte(c).ok_or(c)).collect()
    }
}

/// A vocabulary read from a CTranslate2 model directory.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    /// The file it was read from.
    pub path: PathBuf,
    /// All tokens, by id (including the special tokens).
    pub tokens: Vec<String>,
}

impl Vocabulary {
    /// Reads `vocabulary.txt` (one token per line, split on `\n` only) or, if that
    /// does not exist, `vocabulary.json` (a JSON list of strings) from `dir`.
    pub fn load(dir: &Path) -> Result<Vocabulary, ImportError> {
        let txt = dir.join("vocabulary.txt");
        let json = dir.join("vocabulary.json");
        if txt.is_file() {
            let bytes = std::fs::read(&txt).map_err(|e| ImportError::io(&txt, "read", e))?;
            let tokens = parse_txt(&txt.display().to_string(), &bytes)?;
            Ok(Vocabulary { path: txt, tokens })
        } else if json.is_file() {
            let bytes = std::fs::read(&json).map_err(|e| ImportError::io(&json, "read", e))?;
            let tokens = parse_json(&json.display().to_string(), &bytes)?;
            Ok(Vocabulary { path: json, tokens })
        } else {
            Err(ImportError::NoVocabulary {
                dir: dir.to_path_buf(),
            })
        }
    }

    /// The raw bytes of the ordinary tokens: every entry before `<|endoftext|>`.
    pub fn ggml_tokens(&self) -> Result<Vec<Vec<u8>>, ImportError> {
        let file = self.path.display().to_string();
        let eot = self
            .tokens
            .iter()
            .position(|t| t == END_OF_TEXT)
            .ok_or_else(|| ImportError::Vocabulary {
                file: file.clone(),
                location: "whole file".into(),
                msg: format!("no {END_OF_TEXT} token"),
            })?;
        let decoder = ByteDecoder::new();
        let is_json = self.path.extension().is_some_and(|e| e == "json");
        self.tokens[..eot]
            .iter()
            .enumerate()
            .map(|(id, token)| {
                decoder.decode(token).map_err(|c| ImportError::Vocabulary {
                    file: file.clone(),
                    location: if is_json {
                        format!("entry {id}")
                    } else {
                        format!("line {}", id + 1)
                    },
                    msg: format!(
                        "token {token:?}: character {c:?} (U+{:04X}) is not in the GPT-2 byte alphabet",
                        c as u32
                    ),
                })
            })
            .collect()
    }
}

fn parse_txt(file: &str, bytes: &[u8]) -> Result<Vec<String>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ImportError::Vocabulary {
            file: file.to_owned(),
            location: format!("line {line}"),
            msg: format!("invalid UTF-8: {e}"),
        }
    })?;
    let mut tokens: Vec<String> = text.split('\n').map(str::to_owned).collect();
    // A final newline terminates the last line; it does not start an empty token.
    if tokens.last().is_some_and(String::is_empty) {
        tokens.pop();
    }
    Ok(tokens)
}

fn parse_json(file: &str, bytes: &[u8]) -> Result<Vec<String>, ImportError> {
    serde_json::from_slice::<Vec<String>>(bytes).map_err(|e| ImportError::Vocabulary {
        file: file.to_owned(),
        location: format!("line {} column {}", e.line(), e.column()),
        msg: format!("expected a JSON list of strings: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_matches_gpt2() {
        let enc = byte_encoder();
        assert_eq!(enc[b' ' as usize], 'Ġ');
        assert_eq!(enc[b'\n' as usize], 'Ċ');
        assert_eq!(enc[b'\t' as usize], 'ĉ');
        assert_eq!(enc[0], 'Ā');
        assert_eq!(enc[b'!' as usize], '!');
        assert_eq!(enc[0xad], 'Ń'); // soft hyphen is the last remapped byte (U+0143)
        assert_eq!(enc[0x7f], 'ġ');
        assert_eq!(enc[0xff], 'ÿ');
        // A bijection onto 256 distinct characters, 68 of them remapped.
        let mut seen: Vec<char> = enc.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        assert_eq!(enc.iter().filter(|&&c| c as u32 >= 256).count(), 68);
    }

    #[test]
    fn byte_map_round_trips() {
        let enc = byte_encoder();
        let dec = ByteDecoder::new();
        for b in 0..=255u8 {
            assert_eq!(dec.byte(enc[b as usize]), Some(b));
        }
        let all: Vec<u8> = (0..=255).collect();
        let text: String = all.iter().map(|&b| enc[b as usize]).collect();
        assert_eq!(dec.decode(&text), Ok(all));
        assert_eq!(dec.decode("ĠHello"), Ok(b" Hello".to_vec()));
        assert_eq!(dec.decode("Ã©"), Ok("é".as_bytes().to_vec()));
        assert_eq!(dec.decode("a b"), Err(' '));
        assert_eq!(dec.decode("\u{0144}"), Err('\u{0144}'));
        assert_eq!(dec.decode("€"), Err('€'));
    }

    #[test]
    fn txt_splits_on_newline_only() {
        // U+2028 (line separator) and \r are token content, not line breaks.
        let tokens = parse_txt("v.txt", "a\nb\u{2028}c\nd\r\n".as_bytes()).expect("parse");
        assert_eq!(tokens, vec!["a", "b\u{2028}c", "d\r"]);
        let tokens = parse_txt("v.txt", b"a\n\nb").expect("parse");
        assert_eq!(tokens, vec!["a", "", "b"]);
    }

    #[test]
    fn txt_reports_bad_utf8_line() {
        let err = parse_txt("v.txt", b"a\nb\n\xff\n").unwrap_err();
        assert!(
            err.to_string().starts_with("v.txt: line 3: invalid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn ggml_tokens_stop_before_end_of_text() {
        let v = Vocabulary {
            path: "vocabulary.txt".into(),
            tokens: ["Ġa", "Ċ", END_OF_TEXT, "<|x|>"].map(String::from).to_vec(),
        };
        assert_eq!(
            v.ggml_tokens().expect("tokens"),
            vec![b" a".to_vec(), b"\n".to_vec()]
        );

        let bad = Vocabulary {
            path: "vocabulary.txt".into(),
            tokens: ["ok", "a b", END_OF_TEXT].map(String::from).to_vec(),
        };
        let err = bad.ggml_tokens().unwrap_err().to_string();
        assert!(
            err.starts_with("vocabulary.txt: line 2: token \"a b\": character ' '"),
            "{err}"
        );

        let none = Vocabulary {
            path: "vocabulary.json".into(),
            tokens: vec!["a".into()],
        };
        let err = none.ggml_tokens().unwrap_err().to_string();
        assert_eq!(err, "vocabulary.json: whole file: no <|endoftext|> token");
    }

    #[test]
    fn json_vocabulary() {
        let tokens = parse_json("v.json", br#"["a", "\u0120b", "<|endoftext|>"]"#).expect("json");
        assert_eq!(tokens, vec!["a", "Ġb", END_OF_TEXT]);
        let err = parse_json("v.json", b"{\"a\": 1}").unwrap_err().to_string();
        assert!(err.starts_with("v.json: line 1 column "), "{err}");
    }
}

//! Admin tokens: the format rule, constant-time checks, and the optional
//! tokens file that is re-read when it changes.
//!
//! Tokens are kept only as SHA-256 digests. A presented token is hashed and
//! compared with every configured digest in constant time, without stopping
//! at a match, so neither the timing nor the length of the comparison tells
//! which token (or how much of one) matched.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime},
};

use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The rule every configured token follows, for error messages.
pub(crate) const TOKEN_RULE: &str =
    "an admin token is `admin-` followed by at least 20 characters from A-Z, a-z, 0-9, `_` and `-`";

const PREFIX: &str = "admin-";
const MIN_SECRET_CHARS: usize = 20;

/// How often the tokens file's metadata is looked at, at most.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

type Digest = [u8; 32];

/// Checks a configured token against [`TOKEN_RULE`]. The error names the
/// part of the rule that fails and never contains the token.
pub(crate) fn check_rule(token: &str) -> Result<(), String> {
    let Some(secret) = token.strip_prefix(PREFIX) else {
        return Err(format!("does not start with `{PREFIX}`; {TOKEN_RULE}"));
    };
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "contains a character outside A-Z, a-z, 0-9, `_` and `-`; {TOKEN_RULE}"
        ));
    }
    if secret.len() < MIN_SECRET_CHARS {
        return Err(format!(
            "has {} characters after `{PREFIX}`, fewer than {MIN_SECRET_CHARS}; {TOKEN_RULE}",
            secret.len()
        ));
    }
    Ok(())
}

fn digest(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
}

/// Parses a tokens file: one token per line; blank lines and everything
/// after a `#` are ignored. Returns every problem, each with its line.
fn parse_file(text: &str) -> Result<Vec<Digest>, Vec<String>> {
    let mut digests = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let token = line.split('#').next().unwrap_or_default().trim();
        if token.is_empty() {
            continue;
        }
        match check_rule(token) {
            Ok(()) => digests.push(digest(token)),
            Err(why) => problems.push(format!("line {}: the token {why}", index + 1)),
        }
    }
    if problems.is_empty() {
        Ok(digests)
    } else {
        Err(problems)
    }
}

/// What identifies one version of the file: modification time and length.
type Signature = (Option<SystemTime>, u64);

fn signature(path: &Path) -> std::io::Result<Signature> {
    let meta = fs::metadata(path)?;
    Ok((meta.modified().ok(), meta.len()))
}

/// Reads and parses the file, with the signature taken *before* reading, so
/// a change during the read is seen at the next check.
fn load(path: &Path) -> Result<(Signature, Vec<Digest>), Vec<String>> {
    let display = path.display();
    let sig = signature(path).map_err(|e| vec![format!("cannot read {display}: {e}")])?;
    let text = fs::read_to_string(path).map_err(|e| vec![format!("cannot read {display}: {e}")])?;
    let digests = parse_file(&text).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| format!("{display} {p}"))
            .collect::<Vec<_>>()
    })?;
    Ok((sig, digests))
}

/// A tokens file and the tokens last read from it.
pub(crate) struct TokenFile {
    path: PathBuf,
    /// Instance name, for log messages.
    instance: String,
    every: Duration,
    state: Mutex<FileState>,
}

struct FileState {
    digests: Arc<[Digest]>,
    signature: Signature,
    last_check: Instant,
    /// The last runtime problem logged, so a lasting one is logged once.
    last_error: Option<String>,
}

impl TokenFile {
    /// Reads the file at construction; every problem is returned.
    pub(crate) fn open(
        path: PathBuf,
        instance: &str,
        every: Duration,
    ) -> Result<Self, Vec<String>> {
        let (signature, digests) = load(&path)?;
        Ok(Self {
            path,
            instance: instance.to_owned(),
            every,
            state: Mutex::new(FileState {
                digests: digests.into(),
                signature,
                last_check: Instant::now(),
                last_error: None,
            }),
        })
    }

    /// The current tokens, re-reading the file first when the check is due
    /// and its modification time or length changed. A file that cannot be
    /// read or has a bad line keeps the previous tokens.
    fn current(&self) -> Arc<[Digest]> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(state.last_check) >= self.every {
            state.last_check = now;
            self.refresh(&mut state);
        }
        Arc::clone(&state.digests)
    }

    fn refresh(&self, state: &mut FileState) {
        let outcome = match signature(&self.path) {
            Ok(sig) if sig == state.signature => return,
            Ok(_) => load(&self.path),
            Err(e) => Err(vec![format!("cannot read {}: {e}", self.path.display())]),
        };
        match outcome {
            Ok((signature, digests)) => {
                log::info!(
                    "Policy `{}` reloaded {} admin token(s) from {}.",
                    self.instance,
                    digests.len(),
                    self.path.display()
                );
                state.digests = digests.into();
                state.signature = signature;
                state.last_error = None;
            }
            Err(problems) => {
                let error = problems.join("; ");
                if state.last_error.as_deref() != Some(error.as_str()) {
                    log::error!(
                        "Policy `{}` keeps its previous admin tokens: {error}.",
                        self.instance
                    );
                    state.last_error = Some(error);
                }
            }
        }
    }
}

/// The configured admin tokens: inline ones and those of the file.
pub(crate) struct AdminTokens {
    inline: Vec<Digest>,
    file: Option<TokenFile>,
}

impl AdminTokens {
    /// Inline tokens must already have passed [`check_rule`].
    pub(crate) fn new(inline: &[String], file: Option<TokenFile>) -> Self {
        Self {
            inline: inline.iter().map(|t| digest(t)).collect(),
            file,
        }
    }

    /// How many tokens are configured now (for the startup warning).
    pub(crate) fn count(&self) -> usize {
        self.inline.len() + self.file.as_ref().map_or(0, |f| f.current().len())
    }

    /// Whether `presented` equals one of the configured tokens. Every
    /// configured token is compared, in constant time, whatever the outcome.
    pub(crate) fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let from_file = self.file.as_ref().map(TokenFile::current);
        let all = self
            .inline
            .iter()
            .chain(from_file.iter().flat_map(|d| d.iter()));
        let mut found = Choice::from(0);
        for configured in all {
            found |= configured.ct_eq(&presented);
        }
        found.into()
    }
}

impl std::fmt::Debug for AdminTokens {
    // Digests only, and not even those: a count is all a log needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokens")
            .field("inline", &self.inline.len())
            .field(
                "file",
                &self
                    .file
                    .as_ref()
                    .map(|file| file.path.display().to_string()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    const A: &str = "admin-AAAAAAAAAAAAAAAAAAAAAAAA";
    const B: &str = "admin-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn the_rule_names_the_failing_part_without_the_token() {
        assert!(check_rule(A).is_ok());
        assert!(check_rule("admin-abcdefghij_KLMNOP-123").is_ok());
        for (bad, part) in [
            ("admin-short-secret", "fewer than 20"),
            ("token-AAAAAAAAAAAAAAAAAAAAAAAA", "does not start"),
            ("admin-AAAAAAAAAAAAAAAAAAAA AAAA", "outside"),
            ("admin-AAAAAAAAAAAAAAAAAAAAé", "outside"),
            ("", "does not start"),
        ] {
            let err = check_rule(bad).unwrap_err();
            assert!(err.contains(part), "{bad:?}: {err}");
            assert!(
                bad.is_empty() || !err.contains(bad),
                "{err} echoes the token"
            );
        }
    }

    #[test]
    fn accepts_any_configured_token_and_nothing_else() {
        let tokens = AdminTokens::new(&[A.to_owned(), B.to_owned()], None);
        assert!(tokens.accepts(A));
        assert!(tokens.accepts(B));
        assert!(!tokens.accepts(&A[..A.len() - 1]));
        assert!(!tokens.accepts(""));
        assert!(!tokens.accepts(&format!("{A}A")));
        assert!(!AdminTokens::new(&[], None).accepts(A));
        assert!(!format!("{tokens:?}").contains("AAAA"));
    }

    #[test]
    fn the_file_skips_comments_and_reports_every_bad_line() {
        let text =
            format!("# rotated weekly\n\n{A}\n  {B}  # ops team\nadmin-short\nnot-a-token\n");
        let problems = parse_file(&text).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 5:"), "{problems:?}");
        assert!(problems[1].starts_with("line 6:"), "{problems:?}");
        assert!(!problems.join(" ").contains("admin-short"));
        let good = format!("# rotated weekly\n{A}\n  {B}  # ops team\n");
        assert_eq!(parse_file(&good).unwrap().len(), 2);
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old_tokens() {
        let dir = TempDir::new();
        let path = dir.write("tokens", &format!("{A}\n"));
        let file = TokenFile::open(path.clone(), "t", Duration::ZERO).unwrap();
        let tokens = AdminTokens::new(&[], Some(file));
        assert!(tokens.accepts(A) && !tokens.accepts(B));

        dir.write("tokens", &format!("# rotated\n{B}\n"));
        assert!(tokens.accepts(B) && !tokens.accepts(A));

        dir.write("tokens", "admin-too-short\n");
        assert!(
            tokens.accepts(B),
            "a bad file must keep the previous tokens"
        );

        fs::remove_file(&path).unwrap();
        assert!(
            tokens.accepts(B),
            "a missing file must keep the previous tokens"
        );

        dir.write("tokens", &format!("{A}\n{B}\n"));
        assert!(tokens.accepts(A) && tokens.accepts(B));
    }

    #[test]
    fn the_file_is_checked_at_most_once_per_interval() {
        let dir = TempDir::new();
        let path = dir.write("tokens", &format!("{A}\n"));
        let file = TokenFile::open(path, "t", Duration::from_secs(3600)).unwrap();
        let tokens = AdminTokens::new(&[], Some(file));
        dir.write("tokens", &format!("{B}\n"));
        assert!(tokens.accepts(A) && !tokens.accepts(B));
    }

    #[test]
    fn opening_a_bad_or_missing_file_reports_it() {
        let dir = TempDir::new();
        let missing = TokenFile::open(dir.path().join("nope"), "t", RELOAD_INTERVAL)
            .err()
            .unwrap();
        assert!(missing[0].contains("cannot read"), "{missing:?}");
        let path = dir.write("tokens", "admin-x\nadmin-y\n");
        let bad = TokenFile::open(path, "t", RELOAD_INTERVAL).err().unwrap();
        assert_eq!(bad.len(), 2, "{bad:?}");
    }
}

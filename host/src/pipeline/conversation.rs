//! A call's conversation memory: what the caller said and what the caller
//! actually heard of the agent, which is what the responder is given.

use crate::model::{Message, Role};

/// Lines kept; the oldest go first (a responder gets the recent context,
/// and a long call must not grow without bound).
const MAX_LINES: usize = 200;

#[derive(Debug)]
struct Line {
    /// The spoken reply this line is, for assistant lines that were spoken.
    reply: Option<u64>,
    message: Message,
}

/// The conversation so far.
#[derive(Debug, Default)]
pub struct Conversation {
    lines: Vec<Line>,
}

impl Conversation {
    /// The caller said `text`.
    pub fn caller(&mut self, text: &str) {
        self.push(None, Role::Caller, text);
    }

    /// The agent said `text`, spoken as `reply` when there is one.
    pub fn assistant(&mut self, text: &str, reply: Option<u64>) {
        self.push(reply, Role::Assistant, text);
    }

    fn push(&mut self, reply: Option<u64>, role: Role, text: &str) {
        if self.lines.len() >= MAX_LINES {
            self.lines.remove(0);
        }
        self.lines.push(Line {
            reply,
            message: Message {
                role,
                text: text.into(),
            },
        });
    }

    /// The caller interrupted `reply` having heard `heard` of it: the memory
    /// keeps only that (and forgets a reply not heard at all).
    pub fn heard(&mut self, reply: u64, heard: &str) {
        let Some(i) = self.lines.iter().position(|l| l.reply == Some(reply)) else {
            return;
        };
        if heard.is_empty() {
            self.lines.remove(i);
        } else {
            self.lines[i].message.text = heard.into();
        }
    }

    /// The lines, oldest first, as a responder gets them.
    pub fn messages(&self) -> Vec<Message> {
        self.lines.iter().map(|l| l.message.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_replies_keep_only_what_was_heard() {
        let mut c = Conversation::default();
        c.caller("hello");
        c.assistant("Hi there. How can I help you today?", Some(1));
        c.assistant("Also this.", Some(2));
        c.heard(1, "Hi there. How can");
        c.heard(2, "");
        let m = c.messages();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, Role::Caller);
        assert_eq!(m[1].role, Role::Assistant);
        assert_eq!(m[1].text.as_str(), "Hi there. How can");
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = Conversation::default();
        for i in 0..(MAX_LINES + 10) {
            c.caller(&i.to_string());
        }
        let m = c.messages();
        assert_eq!(m.len(), MAX_LINES);
        assert_eq!(m[0].text.as_str(), "10");
    }
}

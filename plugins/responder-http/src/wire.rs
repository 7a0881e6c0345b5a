//! The two wire contracts: request bodies built from a turn, answers parsed
//! from response bodies. Pure functions, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use voicegate_plugin_api::{Message, Role, Turn};

use crate::CallError;

/// The last `max` lines of the history that have a known role, with the
/// role's wire name (`caller`, `assistant`, `system`). Lines with a role
/// this version does not know are left out rather than mislabelled.
fn recent(history: &[Message], max: usize) -> Vec<(Role, &str)> {
    let known: Vec<(Role, &str)> = history
        .iter()
        .filter(|m| matches!(m.role, Role::CALLER | Role::ASSISTANT | Role::SYSTEM))
        .map(|m| (m.role, m.text.as_str()))
        .collect();
    let skip = known.len().saturating_sub(max);
    known.into_iter().skip(skip).collect()
}

fn webhook_role(role: Role) -> &'static str {
    match role {
        Role::ASSISTANT => "assistant",
        Role::SYSTEM => "system",
        _ => "caller",
    }
}

fn openai_role(role: Role) -> &'static str {
    match role {
        Role::ASSISTANT => "assistant",
        Role::SYSTEM => "system",
        _ => "user",
    }
}

/// One history line in the webhook body.
#[derive(Serialize)]
struct WebhookLine<'a> {
    role: &'static str,
    text: &'a str,
}

/// The webhook request body.
#[derive(Serialize)]
struct WebhookRequest<'a> {
    session_id: &'a str,
    call_id: &'a str,
    transport: &'a str,
    from: &'a str,
    to: &'a str,
    text: &'a str,
    history: Vec<WebhookLine<'a>>,
    context: Map<String, Value>,
}

/// The webhook response body; unknown fields are ignored.
#[derive(Deserialize)]
struct WebhookResponse {
    text: String,
    #[serde(default)]
    hangup: bool,
}

/// What the service answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) hangup: bool,
}

/// The webhook body for `turn`.
pub(crate) fn webhook_request(turn: &Turn, max_history: usize) -> String {
    let mut context = Map::new();
    for kv in turn.context.iter() {
        // First value wins, like `voicegate_plugin_api::lookup`.
        context
            .entry(kv.key.as_str())
            .or_insert_with(|| Value::from(kv.value.as_str()));
    }
    let body = WebhookRequest {
        session_id: &turn.session_id,
        call_id: &turn.call_id,
        transport: &turn.transport,
        from: &turn.from,
        to: &turn.to,
        text: &turn.text,
        history: recent(&turn.history, max_history)
            .into_iter()
            .map(|(role, text)| WebhookLine {
                role: webhook_role(role),
                text,
            })
            .collect(),
        context,
    };
    // Serializing strings and maps of strings cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// Parses a webhook answer: `{"text": "...", "hangup": false}`.
pub(crate) fn webhook_reply(body: &[u8]) -> Result<Reply, CallError> {
    let reply: WebhookResponse = parse(body)?;
    Ok(Reply {
        text: reply.text.trim().to_owned(),
        hangup: reply.hangup,
    })
}

/// One chat message.
#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

/// The chat-completions request body.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<ChatChoice>,
}

#[derive(Deserialize)]
struct ChatChoice {
    message: ChatReplyMessage,
}

#[derive(Deserialize)]
struct ChatReplyMessage {
    content: Option<String>,
}

/// Chat-completion options of an instance.
pub(crate) struct ChatOptions<'a> {
    pub(crate) model: &'a str,
    pub(crate) system_prompt: &'a str,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) temperature: Option<f32>,
    pub(crate) max_history: usize,
}

/// The chat-completions body for `turn`: the system prompt (when not
/// empty), the recent history, then what the caller just said.
pub(crate) fn chat_request(turn: &Turn, options: &ChatOptions<'_>) -> String {
    let mut messages = Vec::with_capacity(options.max_history + 2);
    if !options.system_prompt.is_empty() {
        messages.push(ChatMessage {
            role: "system",
            content: options.system_prompt,
        });
    }
    messages.extend(recent(&turn.history, options.max_history).into_iter().map(
        |(role, content)| ChatMessage {
            role: openai_role(role),
            content,
        },
    ));
    messages.push(ChatMessage {
        role: "user",
        content: &turn.text,
    });
    let body = ChatRequest {
        model: options.model,
        messages,
        max_tokens: options.max_tokens,
        temperature: options.temperature,
    };
    // Strings, integers and finite floats (checked in config) always
    // serialize.
    serde_json::to_string(&body).unwrap_or_default()
}

/// Reads `choices[0].message.content`.
pub(crate) fn chat_reply(body: &[u8]) -> Result<Reply, CallError> {
    let response: ChatResponse = parse(body)?;
    let content = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| CallError::Shape("`choices` is empty".to_owned()))?
        .message
        .content
        .ok_or_else(|| CallError::Shape("`choices[0].message.content` is null".to_owned()))?;
    let text = content.trim();
    if text.is_empty() {
        return Err(CallError::Shape(
            "`choices[0].message.content` is empty".to_owned(),
        ));
    }
    Ok(Reply {
        text: text.to_owned(),
        hangup: false,
    })
}

/// Parses JSON, telling a body that is not JSON from JSON of the wrong shape.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CallError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            CallError::Shape(e.to_string())
        } else {
            CallError::Json(e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::KeyValue;

    use super::*;

    fn turn() -> Turn {
        Turn {
            turn: 1,
            session_id: "sess-1".into(),
            transport: "twilio".into(),
            call_id: "CA123".into(),
            from: "+15550001".into(),
            to: "+15550002".into(),
            text: "What are your opening hours?".into(),
            history: vec![
                Message {
                    role: Role::SYSTEM,
                    text: "The caller is a VIP.".into(),
                },
                Message {
                    role: Role::CALLER,
                    text: "Hello".into(),
                },
                Message {
                    role: Role::ASSISTANT,
                    text: "Hi, how can I help?".into(),
                },
                Message {
                    role: Role(9),
                    text: "from the future".into(),
                },
            ]
            .into(),
            context: vec![
                KeyValue::new("tier", "gold"),
                KeyValue::new("lang", "en"),
                KeyValue::new("tier", "silver"),
            ]
            .into(),
            extensions_json: "{}".into(),
        }
    }

    #[test]
    fn webhook_body_carries_the_whole_turn() {
        let body: Value = serde_json::from_str(&webhook_request(&turn(), 20)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "session_id": "sess-1",
                "call_id": "CA123",
                "transport": "twilio",
                "from": "+15550001",
                "to": "+15550002",
                "text": "What are your opening hours?",
                "history": [
                    {"role": "system", "text": "The caller is a VIP."},
                    {"role": "caller", "text": "Hello"},
                    {"role": "assistant", "text": "Hi, how can I help?"},
                ],
                "context": {"tier": "gold", "lang": "en"},
            })
        );
    }

    #[test]
    fn history_keeps_the_most_recent_lines() {
        let body: Value = serde_json::from_str(&webhook_request(&turn(), 1)).unwrap();
        assert_eq!(
            body["history"],
            serde_json::json!([{"role": "assistant", "text": "Hi, how can I help?"}])
        );
        let body: Value = serde_json::from_str(&webhook_request(&turn(), 0)).unwrap();
        assert_eq!(body["history"], serde_json::json!([]));
    }

    #[test]
    fn webhook_replies() {
        assert_eq!(
            webhook_reply(br#"{"text": " Nine to five. ", "extra": 1}"#).unwrap(),
            Reply {
                text: "Nine to five.".into(),
                hangup: false
            }
        );
        assert!(
            webhook_reply(br#"{"text": "Bye.", "hangup": true}"#)
                .unwrap()
                .hangup
        );
        assert!(matches!(webhook_reply(b"<html>"), Err(CallError::Json(_))));
        let err = webhook_reply(br#"{"answer": "x"}"#).unwrap_err();
        assert!(
            matches!(&err, CallError::Shape(m) if m.contains("`text`")),
            "{err}"
        );
        assert!(matches!(
            webhook_reply(br#"{"text": 5}"#),
            Err(CallError::Shape(_))
        ));
    }

    #[test]
    fn chat_body_has_system_prompt_history_and_the_new_text() {
        let options = ChatOptions {
            model: "gpt-4o-mini",
            system_prompt: "Be brief.",
            max_tokens: Some(60),
            temperature: Some(0.5),
            max_history: 20,
        };
        let body: Value = serde_json::from_str(&chat_request(&turn(), &options)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "system", "content": "The caller is a VIP."},
                    {"role": "user", "content": "Hello"},
                    {"role": "assistant", "content": "Hi, how can I help?"},
                    {"role": "user", "content": "What are your opening hours?"},
                ],
                "max_tokens": 60,
                "temperature": 0.5,
            })
        );

        let options = ChatOptions {
            system_prompt: "",
            max_tokens: None,
            temperature: None,
            max_history: 0,
            ..options
        };
        let body: Value = serde_json::from_str(&chat_request(&turn(), &options)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "What are your opening hours?"}],
            })
        );
    }

    #[test]
    fn chat_replies() {
        let ok = br#"{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant",
                     "content": "Nine to five."}, "finish_reason": "stop"}]}"#;
        assert_eq!(chat_reply(ok).unwrap().text, "Nine to five.");
        for (body, needle) in [
            (&br#"{"choices": []}"#[..], "empty"),
            (br#"{"choices": [{"message": {"content": null}}]}"#, "null"),
            (br#"{"choices": [{"message": {"content": "  "}}]}"#, "empty"),
            (br#"{"error": {"message": "bad"}}"#, "`choices`"),
        ] {
            let err = chat_reply(body).unwrap_err();
            assert!(
                matches!(&err, CallError::Shape(m) if m.contains(needle)),
                "{err}"
            );
        }
        assert!(matches!(chat_reply(b""), Err(CallError::Json(_))));
    }
}

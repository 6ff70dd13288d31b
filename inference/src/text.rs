//! Classifier input (a conversation and its images), the policy that turns a conversation into
//! the one text a model sees, and tokenization.
//!
//! # Conversation → text
//!
//! - [`TextPolicy::LastUserTurn`] (intent classifiers, as NVIDIA's intent router does): the
//!   last user turn alone; with no user turn, the last turn that has text.
//! - [`TextPolicy::Conversation`] (auto routing, whose reference embeds the whole
//!   conversation): the last user turn first, then the other turns from newest to oldest as
//!   `role: text` lines, system turns last. The tokenizer truncates at the end, so when the
//!   conversation is longer than the model's maximum length it is the oldest turns (and the
//!   system prompt) that are dropped, never the request itself.
//!
//! Either way the text is cut to `8 × maxLength` characters before tokenizing (a token covers
//! at least one character, so nothing that the model would see is lost), which bounds the work
//! for huge inputs. Text that is empty after trimming is [`Error::EmptyInput`].

use std::path::Path;

use bytes::Bytes;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};
use crate::pool::Item;

/// Author of a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// `system` or `developer`.
    System,
    /// `user`.
    User,
    /// `assistant`.
    Assistant,
    /// `tool` / `function` and anything else.
    Other,
}

impl Role {
    /// Maps an OpenAI message role.
    pub fn parse(role: &str) -> Role {
        match role {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => Role::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Other => "tool",
        }
    }
}

/// One message's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// Who wrote it.
    pub role: Role,
    /// Its text parts, joined.
    pub text: String,
}

/// What a classifier looks at: the conversation's text and its images (raw encoded bytes, in
/// message order; only the first is used by CLIP embedders).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassifyInput {
    /// Turns in conversation order.
    pub turns: Vec<Turn>,
    /// Encoded images (PNG, JPEG, WebP, GIF).
    pub images: Vec<Bytes>,
}

impl ClassifyInput {
    /// A single user turn.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            turns: vec![Turn {
                role: Role::User,
                text: text.into(),
            }],
            images: Vec::new(),
        }
    }
}

/// How a conversation becomes one text (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextPolicy {
    /// The last user turn.
    LastUserTurn,
    /// The last user turn, then the rest newest first.
    Conversation,
}

/// The text a model sees for `input` (see the module docs), at most `max_chars` characters;
/// `None` when there is no text.
pub fn conversation_text(
    input: &ClassifyInput,
    policy: TextPolicy,
    max_chars: usize,
) -> Option<String> {
    let has_text = |t: &&Turn| !t.text.trim().is_empty();
    let main = input
        .turns
        .iter()
        .rposition(|t| t.role == Role::User && has_text(&t))
        .or_else(|| input.turns.iter().rposition(|t| has_text(&t)))?;
    let mut out = String::new();
    push_capped(&mut out, input.turns[main].text.trim(), max_chars);
    if policy == TextPolicy::Conversation {
        let rest = input
            .turns
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, t)| *i != main && t.role != Role::System && has_text(t))
            .chain(
                input
                    .turns
                    .iter()
                    .enumerate()
                    .filter(|(i, t)| *i != main && t.role == Role::System && has_text(t)),
            );
        for (_, turn) in rest {
            if out.len() >= max_chars {
                break;
            }
            let line = format!("\n{}: {}", turn.role.label(), turn.text.trim());
            push_capped(&mut out, &line, max_chars);
        }
    }
    Some(out)
}

fn push_capped(out: &mut String, text: &str, max_chars: usize) {
    let room = max_chars.saturating_sub(out.chars().count());
    match text.char_indices().nth(room) {
        Some((cut, _)) => out.push_str(&text[..cut]),
        None => out.push_str(text),
    }
}

/// A Hugging Face tokenizer set up to truncate at the model's maximum length.
#[derive(Debug)]
pub(crate) struct TextTokenizer {
    tokenizer: Tokenizer,
    /// Longest token sequence.
    pub max_len: usize,
    /// Padding id (for models padded to a fixed length).
    pub pad_id: i64,
    describe: String,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; `max_len` from `model.json`, else the tokenizer's own
    /// truncation, else 512.
    pub fn load(path: &Path, max_len: Option<usize>, describe: &str) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
            Error::invalid(describe, format!("cannot read tokenizer {path:?}: {e}"))
        })?;
        let max_len = max_len
            .or_else(|| tokenizer.get_truncation().map(|t| t.max_length))
            .unwrap_or(512)
            .max(2);
        let pad_id = tokenizer.get_padding().map_or(0, |p| i64::from(p.pad_id));
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                direction: TruncationDirection::Right,
                stride: 0,
            }))
            .map_err(|e| Error::invalid(describe, format!("tokenizer truncation: {e}")))?;
        Ok(Self {
            tokenizer,
            max_len,
            pad_id,
            describe: describe.to_owned(),
        })
    }

    /// Characters kept before tokenizing (see the module docs).
    pub fn max_chars(&self) -> usize {
        self.max_len * 8
    }

    /// Tokenizes one text (special tokens added, truncated).
    pub fn encode(&self, text: &str) -> Result<Item> {
        let mut capped = String::new();
        push_capped(&mut capped, text, self.max_chars());
        let enc = self
            .tokenizer
            .encode(capped, true)
            .map_err(|e| Error::Tokenize {
                model: self.describe.clone(),
                message: e.to_string(),
            })?;
        Ok(Item::Tokens {
            ids: enc.get_ids().iter().map(|&i| i64::from(i)).collect(),
            type_ids: enc.get_type_ids().iter().map(|&i| i64::from(i)).collect(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn turn(role: Role, text: &str) -> Turn {
        Turn {
            role,
            text: text.to_owned(),
        }
    }

    #[test]
    fn last_user_turn_is_the_request() {
        let input = ClassifyInput {
            turns: vec![
                turn(Role::System, "be nice"),
                turn(Role::User, "first question"),
                turn(Role::Assistant, "an answer"),
                turn(Role::User, "  second question "),
                turn(Role::Assistant, ""),
            ],
            images: vec![],
        };
        assert_eq!(
            conversation_text(&input, TextPolicy::LastUserTurn, 1000).unwrap(),
            "second question"
        );
        assert_eq!(
            conversation_text(&input, TextPolicy::Conversation, 1000).unwrap(),
            "second question\nassistant: an answer\nuser: first question\nsystem: be nice"
        );
        // Truncation drops the oldest turns first.
        let short = conversation_text(&input, TextPolicy::Conversation, 20).unwrap();
        assert_eq!(short, "second question\nassi");
    }

    #[test]
    fn empty_and_assistant_only_conversations() {
        let empty = ClassifyInput {
            turns: vec![turn(Role::User, "   ")],
            images: vec![],
        };
        assert_eq!(
            conversation_text(&empty, TextPolicy::LastUserTurn, 100),
            None
        );
        assert_eq!(
            conversation_text(&ClassifyInput::default(), TextPolicy::Conversation, 100),
            None
        );
        let assistant = ClassifyInput {
            turns: vec![turn(Role::Assistant, "hello")],
            images: vec![],
        };
        assert_eq!(
            conversation_text(&assistant, TextPolicy::LastUserTurn, 100).unwrap(),
            "hello"
        );
    }

    #[test]
    fn caps_count_characters_not_bytes() {
        let input = ClassifyInput::user("ééééé");
        assert_eq!(
            conversation_text(&input, TextPolicy::LastUserTurn, 3).unwrap(),
            "ééé"
        );
        assert_eq!(Role::parse("developer"), Role::System);
        assert_eq!(Role::parse("function"), Role::Other);
    }
}

//! Standalone queries: a conversation whose instructions ask for a
//! "standalone" query or question (how retrieval systems rewrite a
//! follow-up before searching) is answered with the follow-up made to
//! stand alone.
//!
//! The request is recognised by a system or developer message containing
//! the word "standalone" (any case). The follow-up is the text after the
//! last line of the last user message that starts with `Last question:`,
//! `Follow-up question:`, `Follow up question:`, `Follow-up:` or
//! `Question:`, or that whole message when no line does. The context is the
//! earlier user turns: lines of the last user message that start with
//! `User:` or `Human:` (a transcript), and the user messages before it,
//! most recent first. The answer is the follow-up without its final `?`,
//! followed by the context's keywords it lacks (at most
//! [`MAX_ADDED`]): "and how long does it take crashed batch resume". With
//! nothing to add the follow-up is repeated as it is.

use aoai_core::chat::{ChatMessage, MessageContent};

use super::text;

/// The most context keywords added to a follow-up.
pub(crate) const MAX_ADDED: usize = 6;

/// Labels of the follow-up line (compared ignoring ASCII case).
const QUESTION_LABELS: &[&str] =
    &["last question:", "follow-up question:", "follow up question:", "follow-up:", "question:"];

/// Labels of a user line in a transcript (compared ignoring ASCII case).
const USER_LABELS: &[&str] = &["user:", "human:"];

/// The standalone query for `messages` (`last_user` is the text of the last
/// user message), when the instructions ask for one.
pub(crate) fn standalone_query(messages: &[ChatMessage], last_user: &str) -> Option<String> {
    let asks = messages.iter().any(|message| {
        matches!(message, ChatMessage::System(_) | ChatMessage::Developer(_))
            && message
                .content()
                .and_then(MessageContent::as_str)
                .is_some_and(|text| text.to_lowercase().contains("standalone"))
    });
    if !asks {
        return None;
    }
    let mut question = last_user.trim();
    let mut context: Vec<&str> = Vec::new();
    for line in last_user.lines().map(str::trim) {
        if let Some(rest) = after_label(line, QUESTION_LABELS) {
            question = rest;
        } else if let Some(rest) = after_label(line, USER_LABELS) {
            context.push(rest);
        }
    }
    context.reverse();
    let earlier = messages
        .iter()
        .rev()
        .filter(|message| matches!(message, ChatMessage::User(_)))
        .skip(1)
        .filter_map(ChatMessage::text);
    let earlier: Vec<String> = earlier.collect();
    context.extend(earlier.iter().map(String::as_str));
    let known = text::keywords(question);
    let mut added: Vec<String> = Vec::new();
    for turn in context {
        for word in text::keywords(turn) {
            if added.len() < MAX_ADDED && !known.contains(&word) && !added.contains(&word) {
                added.push(word);
            }
        }
    }
    if added.is_empty() {
        return Some(question.to_owned());
    }
    Some(format!("{} {}", question.trim_end_matches('?').trim_end(), added.join(" ")))
}

/// The rest of `line` after one of `labels`, when it starts with one.
fn after_label<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|label| {
        line.get(..label.len())
            .filter(|head| head.eq_ignore_ascii_case(label))
            .and_then(|_| line.get(label.len()..))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_follow_up_gets_the_earlier_subject() {
        let messages = [
            ChatMessage::system("Rewrite the last question as a standalone search query."),
            ChatMessage::user(
                "Conversation:\nUser: How does a crashed batch resume?\nAssistant: From its journal.\n\nLast question: and how long does it take?",
            ),
        ];
        let last = messages[1].text().unwrap();
        assert_eq!(
            standalone_query(&messages, &last).as_deref(),
            Some("and how long does it take crashed batch resume")
        );
    }

    #[test]
    fn earlier_user_messages_are_context_too_and_a_whole_question_is_kept() {
        let messages = [
            ChatMessage::developer("Give a STANDALONE question."),
            ChatMessage::user("Tell me about Redis caching."),
            ChatMessage::assistant("It shares answers."),
            ChatMessage::user("Is it fast?"),
        ];
        assert_eq!(standalone_query(&messages, "Is it fast?").as_deref(), Some("Is it fast redis caching"));
        let alone = [ChatMessage::system("standalone query"), ChatMessage::user("Question: Is Redis caching fast?")];
        assert_eq!(
            standalone_query(&alone, "Question: Is Redis caching fast?").as_deref(),
            Some("Is Redis caching fast?")
        );
        let plain = [ChatMessage::system("Be helpful."), ChatMessage::user("Is it fast?")];
        assert_eq!(standalone_query(&plain, "Is it fast?"), None);
    }
}

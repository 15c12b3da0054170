//! A conversation loop with a maximum number of turns: a `loop` with `max 6` calls the assistant
//! once per turn and stops early when the user says goodbye (`until chat.output.bye`). The
//! transcript so far is carried from turn to turn as `turn.previous`. Written inline with
//! `orch_runtime::workflow!`.
//!
//! The example holds two conversations: one where the user says goodbye on the third turn, and
//! one with a user who would go on forever, ended by the bound after six turns.
//!
//! ```text
//! cargo run --example conversation
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::workflow! {
    /// A chat of at most six turns, ending early when the user says goodbye.
    workflow Conversation {
        input {
            /// What the user says, one message per turn.
            messages: list,
        }
        worker Assistant "answers the user's message of the turn";
        start chat;

        loop chat by Assistant as turn {
            with { messages: input.messages, turn: turn.index, previous: turn.previous }
            until chat.output.bye;
            max 6;
            ok -> done;
            fail -> failed;
        }

        succeed done output chat.output.transcript;
        fail failed;
    }
}

use conversation::{Input, Workers};

/// A user who says goodbye on the third turn.
pub const BRIEF_USER: [&str; 3] = ["hi!", "what time do you open on sunday?", "thanks, bye"];

/// A user who keeps asking.
pub const CHATTY_USER: [&str; 8] = [
    "hello",
    "do you sell rye bread?",
    "is it sourdough?",
    "how long does it keep?",
    "can I freeze it?",
    "and the croissants?",
    "what about the baguettes?",
    "and cakes?",
];

struct Assistant;

impl Workers for Assistant {
    async fn assistant(&self, call: Call) -> WorkerResult<Value> {
        let turn = call.input["turn"].as_u64().unwrap_or(1);
        let said = call.input["messages"][turn as usize - 1]
            .as_str()
            .unwrap_or_default();
        let bye = said.contains("bye");
        let answer = if bye {
            "goodbye, see you soon".to_string()
        } else {
            format!("(answer {turn})")
        };
        println!("user: {said}");
        println!("assistant: {answer}");
        let mut transcript = call.input["previous"]["transcript"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        transcript.push(json!({ "user": said, "assistant": answer }));
        Ok(json!({ "transcript": transcript, "bye": bye }))
    }
}

/// Holds one conversation with a user who says `messages`, one per turn.
pub async fn run(messages: &[&str]) -> Result<RunResult, StartError> {
    let input = Input {
        messages: messages.iter().map(|m| json!(m)).collect(),
    };
    conversation::run(Assistant, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, user) in [&BRIEF_USER[..], &CHATTY_USER[..]].into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        let result = run(user).await?;
        support::print_summary(&result, conversation::WORST_CASE_STEPS);
    }
    Ok(())
}

//! The constants, enums and methods generated for the states, events, outcomes and signals.

orch_runtime::workflow! {
    workflow PublishPost {
        input { topic: string }
        worker Writer;
        worker Editor outcomes [approved, changes_requested];
        signal Publish "a person publishes the post";
        max_steps 20;
        start draft;

        task draft by Writer {
            with { topic: input.topic }
            ok -> edit;
            fail -> failed;
        }
        task edit by Editor {
            with { draft: draft.output }
            on approved -> check;
            on changes_requested -> draft max 2 else failed;
            fail -> failed;
        }
        choice check {
            when edit.output.words > 100 -> publish;
            else -> failed;
        }
        wait publish for Publish {
            timeout 1h;
            ok -> published;
            timeout -> failed;
            fail -> failed;
        }
        succeed published output draft.output;
        fail failed;
    }
}

use publish_post::{Event, Outcome, Signal, State};

fn describe(state: State) -> &'static str {
    match state {
        State::Draft | State::Edit => "work",
        State::Check => "route",
        State::Publish => "wait",
        State::Published | State::Failed => "end",
    }
}

fn main() {
    assert_eq!(publish_post::NAME, "PublishPost");
    assert_eq!(State::START, State::Draft);
    assert_eq!(
        State::ALL.map(State::name),
        ["draft", "edit", "check", "publish", "published", "failed"]
    );
    for (index, state) in State::ALL.into_iter().enumerate() {
        assert_eq!(state.index(), index);
        assert_eq!(State::from_name(state.name()), Some(state));
        assert_eq!(state.to_string(), state.name());
        assert_eq!(state.is_terminal(), describe(state) == "end");
    }
    assert_eq!(State::from_name("nowhere"), None);

    assert_eq!(Outcome::Approved.label(), "approved");
    assert_eq!(Outcome::ChangesRequested.label(), "changes_requested");
    assert_eq!(Signal::Publish.name(), "Publish");
    let event = Event::Outcome(Outcome::Approved);
    assert_ne!(event, Event::Ok);

    assert_eq!(publish_post::BOUNDS, 1);
    assert!(publish_post::WORST_CASE_STEPS <= 20);
    assert!(publish_post::DOT.starts_with("digraph"));
    assert!(publish_post::MERMAID.contains("flowchart TD"));

    let workflow = publish_post::workflow();
    assert_eq!(workflow.name, "PublishPost");
    assert_eq!(workflow.states.len(), State::ALL.len());
    assert_eq!(publish_post::program().workflows.len(), 1);

    let json = serde_json::to_string(&State::Published).unwrap();
    assert_eq!(json, "\"published\"");
    assert_eq!(
        serde_json::from_str::<State>(&json).unwrap(),
        State::Published
    );
    let unknown = serde_json::from_str::<State>("\"nowhere\"").unwrap_err();
    assert!(unknown.to_string().contains("unknown variant `nowhere`"));
    assert!(serde_json::from_str::<State>("3").is_err());
}

//! `transition` drives a run by hand, counting bounded edges in the counters.

orch_runtime::workflow! {
    workflow Refine {
        worker Writer;
        worker Critic;
        start write;

        loop write by Writer {
            until write.output.done;
            max 3 else gave_up;
            ok -> critique;
            fail -> failed;
        }
        task critique by Critic {
            with { text: write.output }
            ok -> done;
            on revise -> write max 2 else gave_up;
            fail -> failed;
        }
        succeed done;
        fail gave_up;
        fail failed;
    }
}

use refine::{Event, Outcome, State, transition};

fn main() {
    let mut counters = [0; refine::BOUNDS];
    let mut state = State::START;
    let mut path = vec![state];
    let events = [
        Event::Ok,
        Event::Outcome(Outcome::Revise),
        Event::Ok,
        Event::Outcome(Outcome::Revise),
        Event::Ok,
        Event::Outcome(Outcome::Revise),
    ];
    for event in events {
        state = transition(state, event, &mut counters);
        path.push(state);
    }
    use State::*;
    assert_eq!(
        path,
        [Write, Critique, Write, Critique, Write, Critique, GaveUp]
    );
    assert_eq!(counters, [3]);

    // A loop that used up its iterations takes `max 3 else gave_up`.
    assert_eq!(transition(Write, Event::Exhausted, &mut counters), GaveUp);

    // A terminal state stays where it is; an unhandled event takes the failure path.
    assert_eq!(transition(GaveUp, Event::Ok, &mut counters), GaveUp);
    assert_eq!(transition(Critique, Event::Timeout, &mut counters), Failed);
    assert_eq!(transition(Write, Event::Fail, &mut counters), Failed);
}

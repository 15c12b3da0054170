//! One machine twice: compiled by `workflow!`, and written by hand as a plain `match` over
//! enums of the same shape, for comparing the generated `transition` with hand-written code.

use std::hint::black_box;

orch_runtime::workflow! {
    /// A support ticket: classified, answered (after research if needed), reviewed with a
    /// bounded number of revisions, checked two ways, polished and approved by a person.
    workflow Triage {
        input { ticket: string }
        worker Classifier;
        worker Agent;
        worker Researcher;
        worker Reviewer "reviews an answer" outcomes [approved, revise];
        signal Approve;
        start classify;

        task classify by Classifier {
            with { ticket: "{{input.ticket}}" }
            ok -> route;
            fail -> failed;
        }
        choice route {
            when classify.output.kind == "simple" -> answer;
            when classify.output.kind == "research" -> research;
            else -> escalate;
        }
        map research over classify.output.topics as topic by Researcher {
            with { topic: "{{topic}}" }
            limit 4;
            ok -> answer;
            fail -> failed;
        }
        task answer by Agent {
            with { ticket: "{{input.ticket}}" }
            timeout 30s;
            ok -> review;
            timeout -> escalate;
            fail -> failed;
        }
        task review by Reviewer {
            with { answer: "{{answer.output}}" }
            on approved -> checks;
            on revise -> answer max 3 else escalate;
            fail -> failed;
        }
        parallel checks {
            branch tone by Agent { with { text: "{{answer.output}}" } }
            branch facts by Researcher { with { text: "{{answer.output}}" } }
            join all;
            ok -> polish;
            fail -> escalate;
        }
        loop polish by Agent {
            with { text: "{{answer.output}}" }
            until polish.output.score >= 0.9;
            max 3 else approval;
            ok -> approval;
            fail -> failed;
        }
        wait approval for Approve {
            timeout 24h;
            ok -> done;
            on rejected -> answer max 2 else failed;
            timeout -> escalate;
            fail -> failed;
        }
        task escalate by Agent {
            with { ticket: "{{input.ticket}}" }
            ok -> done;
            fail -> failed;
        }
        succeed done output "{{classify.output}}";
        fail failed;
    }
}

/// The same machine, written by hand.
pub mod hand {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum State {
        Classify,
        Route,
        Research,
        Answer,
        Review,
        Checks,
        Polish,
        Approval,
        Escalate,
        Done,
        Failed,
    }

    impl State {
        pub const fn is_terminal(self) -> bool {
            matches!(self, State::Done | State::Failed)
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Outcome {
        Approved,
        Rejected,
        Revise,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Event {
        Ok,
        Outcome(Outcome),
        Timeout,
        Fail,
        Exhausted,
        When(usize),
        Else,
    }

    pub const BOUNDS: usize = 2;

    pub fn transition(state: State, event: Event, counters: &mut [u64; BOUNDS]) -> State {
        use State::*;
        match (state, event) {
            (Classify, Event::Ok) => Route,
            (Classify, _) => Failed,
            (Route, Event::When(0)) => Answer,
            (Route, Event::When(1)) => Research,
            (Route, _) => Escalate,
            (Research, Event::Ok) => Answer,
            (Research, _) => Failed,
            (Answer, Event::Ok) => Review,
            (Answer, Event::Timeout) => Escalate,
            (Answer, _) => Failed,
            (Review, Event::Outcome(Outcome::Approved)) => Checks,
            (Review, Event::Outcome(Outcome::Revise)) => {
                let taken = counters[0];
                counters[0] = taken.saturating_add(1);
                if taken >= 3 { Escalate } else { Answer }
            }
            (Review, _) => Failed,
            (Checks, Event::Ok) => Polish,
            (Checks, _) => Escalate,
            (Polish, Event::Ok) => Approval,
            (Polish, Event::Exhausted) => Approval,
            (Polish, _) => Failed,
            (Approval, Event::Ok) => Done,
            (Approval, Event::Outcome(Outcome::Rejected)) => {
                let taken = counters[1];
                counters[1] = taken.saturating_add(1);
                if taken >= 2 { Failed } else { Answer }
            }
            (Approval, Event::Timeout) => Escalate,
            (Approval, _) => Failed,
            (Escalate, Event::Ok) => Done,
            (Escalate, _) => Failed,
            (Done, _) => Done,
            (Failed, _) => Failed,
        }
    }
}

/// The same pseudo-random events for both machines, weighted towards `ok` so that runs get
/// past the first states.
pub fn events(count: usize, seed: u64) -> (Vec<triage::Event>, Vec<hand::Event>) {
    use hand::Outcome as H;
    use triage::Outcome as G;
    let mut x = seed;
    let mut generated = Vec::with_capacity(count);
    let mut written = Vec::with_capacity(count);
    for _ in 0..count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (g, h) = match x % 100 {
            0..40 => (triage::Event::Ok, hand::Event::Ok),
            40..50 => (triage::Event::When(0), hand::Event::When(0)),
            50..58 => (triage::Event::When(1), hand::Event::When(1)),
            58..62 => (triage::Event::Else, hand::Event::Else),
            62..74 => (
                triage::Event::Outcome(G::Approved),
                hand::Event::Outcome(H::Approved),
            ),
            74..84 => (
                triage::Event::Outcome(G::Revise),
                hand::Event::Outcome(H::Revise),
            ),
            84..89 => (
                triage::Event::Outcome(G::Rejected),
                hand::Event::Outcome(H::Rejected),
            ),
            89..93 => (triage::Event::Timeout, hand::Event::Timeout),
            93..97 => (triage::Event::Exhausted, hand::Event::Exhausted),
            _ => (triage::Event::Fail, hand::Event::Fail),
        };
        generated.push(g);
        written.push(h);
    }
    (generated, written)
}

/// Runs the generated machine over `events`, starting again after each terminal state; the
/// sum of the state indices visited.
#[inline(never)]
pub fn drive_generated(events: &[triage::Event]) -> usize {
    let mut state = triage::State::START;
    let mut counters = [0u64; triage::BOUNDS];
    let mut sum = 0usize;
    for &event in events {
        state = triage::transition(state, black_box(event), &mut counters);
        sum += state as usize;
        if state.is_terminal() {
            state = triage::State::START;
            counters = [0; triage::BOUNDS];
        }
    }
    sum
}

/// The same loop over the hand-written machine.
#[inline(never)]
pub fn drive_hand(events: &[hand::Event]) -> usize {
    let mut state = hand::State::Classify;
    let mut counters = [0u64; hand::BOUNDS];
    let mut sum = 0usize;
    for &event in events {
        state = hand::transition(state, black_box(event), &mut counters);
        sum += state as usize;
        if state.is_terminal() {
            state = hand::State::Classify;
            counters = [0; hand::BOUNDS];
        }
    }
    sum
}

/// Panics unless both machines visit the same states over the same events.
pub fn assert_same(count: usize) {
    assert_eq!(triage::BOUNDS, hand::BOUNDS);
    let (generated, written) = events(count, 7);
    let mut g = triage::State::START;
    let mut h = hand::State::Classify;
    let (mut gc, mut hc) = ([0u64; triage::BOUNDS], [0u64; hand::BOUNDS]);
    for (&ge, &he) in generated.iter().zip(&written) {
        g = triage::transition(g, ge, &mut gc);
        h = hand::transition(h, he, &mut hc);
        assert_eq!(g.name(), format!("{h:?}").to_lowercase());
        assert_eq!(g as usize, h as usize);
        if g.is_terminal() {
            (g, h) = (triage::State::START, hand::State::Classify);
            (gc, hc) = ([0; triage::BOUNDS], [0; hand::BOUNDS]);
        }
    }
}

//! Futures polled inside a tracing span, with the span's room taken only when it records.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Span;

pin_project_lite::pin_project! {
    /// `future`, entering `span` each time it is polled, like `tracing`'s `Instrumented`. The
    /// span is boxed, and left out when no subscriber records it: a run's future nests one of
    /// these per level (the run, the step), and a span held in place is 40 bytes of every
    /// run waiting on a worker.
    pub(crate) struct Traced<F> {
        span: Option<Box<Span>>,
        #[pin]
        future: F,
    }
}

/// `future` polled inside `span`.
pub(crate) fn traced<F: Future>(future: F, span: Span) -> Traced<F> {
    Traced {
        span: (!span.is_disabled()).then(|| Box::new(span)),
        future,
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.as_deref().map(Span::enter);
        this.future.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing::subscriber::with_default;
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::{Layer, Registry};

    use super::*;
    use crate::{Call, Engine, Reply};

    /// What a subscriber saw: each span made, with its fields, and for each event the spans
    /// it was logged in, outermost first.
    #[derive(Default)]
    struct Seen {
        spans: Vec<String>,
        events: Vec<Vec<String>>,
    }

    struct Recorder(Arc<Mutex<Seen>>);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
        fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: LayerContext<'_, S>) {
            let mut fields = Fields(attrs.metadata().name().to_string());
            attrs.record(&mut fields);
            self.0.lock().unwrap().spans.push(fields.0);
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
            let scope = ctx.event_scope(event).map_or_else(Vec::new, |scope| {
                scope
                    .from_root()
                    .map(|span| span.name().to_string())
                    .collect()
            });
            self.0.lock().unwrap().events.push(scope);
        }
    }

    fn recording() -> (impl tracing::Subscriber, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (Registry::default().with(Recorder(seen.clone())), seen)
    }

    #[test]
    fn the_future_is_polled_inside_its_span_when_one_records() {
        let (subscriber, seen) = recording();
        with_default(subscriber, || {
            let future = traced(
                async { tracing::info!("inside") },
                tracing::info_span!("step"),
            );
            assert!(future.span.is_some());
            futures_util::FutureExt::now_or_never(future).expect("ready at once");
            tracing::info!("outside");
        });
        assert_eq!(seen.lock().unwrap().events, [vec!["step"], vec![]]);
    }

    #[test]
    fn a_span_nobody_records_takes_no_room() {
        let future = traced(async { 7 }, tracing::info_span!("step"));
        assert!(future.span.is_none());
        assert_eq!(futures_util::FutureExt::now_or_never(future), Some(7));
    }

    /// A worker runs inside its run's span and its step's span, which name the workflow, the
    /// state and the step.
    #[test]
    fn workers_run_inside_the_run_and_step_spans() {
        let (subscriber, seen) = recording();
        with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let engine = Engine::new();
            engine.bind("Writer", |_call: Call| async {
                tracing::info!("writing");
                Ok(Reply::ok(1))
            });
            engine
                .load(
                    "workflow Draft {
                        worker Writer;
                        start outline;
                        task outline by Writer { ok -> write; fail -> failed; }
                        task write by Writer { ok -> done; fail -> failed; }
                        succeed done;
                        fail failed;
                    }",
                )
                .unwrap();
            let result = runtime
                .block_on(engine.run("Draft", serde_json::json!({})))
                .unwrap();
            assert!(result.succeeded());
        });
        let seen = seen.lock().unwrap();
        assert_eq!(seen.events, [vec!["run", "step"], vec!["run", "step"]]);
        let spans: Vec<&str> = seen.spans.iter().map(String::as_str).collect();
        assert!(spans[0].starts_with("run workflow=Draft run="), "{spans:?}");
        assert_eq!(
            spans[1..],
            [
                "step state=outline step=1",
                "step state=write step=2",
                "step state=done step=3"
            ]
        );
    }
}

//! Runs: start a stored definition's active version, look at runs, control them, and follow
//! their events as a server-sent-events stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use orch_runtime::Event;
use orch_runtime::store::{Lifecycle, LoadedRun, RunFilter, Store, StoredSignal};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::error::{ApiError, ApiResult};
use super::extract::{Auth, Body, Path, Query, READ, RUN};
use super::state::{AppState, Signal, store_error, wait_done};
use super::tables::RunRecord;

/// How long an event stream waits, after its run's last event, for the run's end to be stored.
const END_WAIT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    definition: String,
    #[serde(default = "empty_object")]
    input: Value,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    workflow: Option<String>,
}

/// `POST /v1/runs`: starts a run of a definition's active version.
pub async fn start(
    Auth(principal): Auth<RUN>,
    State(state): State<Arc<AppState>>,
    Body(body): Body<StartBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_payload(&state, &body.input, "input")?;
    let (id, version) = state
        .start(&principal, &body.definition, body.input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "run_id": id,
            "definition": version.name,
            "version": version.version,
            "status": "running",
        })),
    ))
}

/// `GET /v1/runs?status=S&workflow=W`: runs, oldest first.
pub async fn list(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = match &query.status {
        Some(text) => Some(Lifecycle::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown status `{text}`: `running`, `paused`, `succeeded`, `failed`, `timed_out` \
                 or `cancelled`"
            ))
        })?),
        None => None,
    };
    let runs = state
        .store
        .list(RunFilter {
            status,
            workflow: query.workflow,
        })
        .await
        .map_err(store_error)?;
    let records = state
        .tables
        .blocking(|tables| tables.run_records())
        .await
        .map_err(|e| ApiError::internal("cannot read run records", e))?;
    let live = state.live.lock();
    let shown: Vec<Value> = runs
        .iter()
        .map(|summary| {
            let record = records.get(&summary.id);
            json!({
                "run_id": summary.id,
                "workflow": summary.workflow,
                "version": record.map(|r| r.version),
                "principal": record.map(|r| &r.principal),
                "status": summary.status.as_str(),
                "live": live.contains_key(&summary.id),
                "state": summary.state,
                "steps": summary.steps,
                "created_ms": summary.created_ms,
                "updated_ms": summary.updated_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": shown })))
}

/// `GET /v1/runs/{id}`: where a run is, its pending signals, and its outcome once finished.
pub async fn status(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    status_json(&state, &id).await.map(Json)
}

/// `GET /v1/runs/{id}/result`: the result of a finished run.
pub async fn result(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let loaded = state.stored(&id).await?;
    match &loaded.result {
        Some(result) if loaded.summary.status.is_finished() => {
            Ok(Json(json!(crate::run::printed(result, false))))
        }
        _ => Err(ApiError::conflict(
            "not_finished",
            format!(
                "run `{id}` has not finished (it is {}); its result comes when it does",
                loaded.summary.status
            ),
        )
        .with("status", json!(loaded.summary.status.as_str()))),
    }
}

/// `GET /v1/runs/{id}/trail`: the audit trail so far, every attempt, choice, signal, child
/// run and transition.
pub async fn trail(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let loaded = state.stored(&id).await?;
    Ok(Json(json!({
        "run_id": id,
        "status": loaded.summary.status.as_str(),
        "trail": loaded.checkpoint.trail,
    })))
}

/// `POST /v1/runs/{id}/pause`.
pub async fn pause(
    Auth(_): Auth<RUN>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.pause(&id).await?;
    status_json(&state, &id).await.map(Json)
}

/// `POST /v1/runs/{id}/resume`.
pub async fn resume(
    Auth(_): Auth<RUN>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.resume(&id, true).await?;
    status_json(&state, &id).await.map(Json)
}

/// `POST /v1/runs/{id}/cancel`.
pub async fn cancel(
    Auth(_): Auth<RUN>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.cancel(&id).await?;
    status_json(&state, &id).await.map(Json)
}

/// `POST /v1/runs/{id}/signals`: stored first, delivered when the run waits for it.
pub async fn signal(
    Auth(_): Auth<RUN>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Body(signal): Body<Signal>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if signal.reject.is_some() && (signal.outcome.is_some() || !signal.payload.is_null()) {
        return Err(ApiError::bad_request(
            "a rejection carries a reason only: send `reject` without `outcome` or `payload`",
        ));
    }
    check_payload(&state, &signal.payload, "signal payload")?;
    let running = state.signal(&id, &signal).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "run_id": id,
            "signal": signal.name,
            "stored": true,
            "running": running,
        })),
    ))
}

/// `GET /v1/runs/{id}/events`: a `status` event, then the run's events as they happen (each
/// named by its `type`), then an `end` event with its outcome once the run stops here. For a
/// run not running on this server, `status` and `end` only.
pub async fn events(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    // Listen before looking, so that nothing happens unseen in between.
    let live = state
        .live
        .lock()
        .get(&id)
        .map(|run| (run.engine.events(), run.done.subscribe()));
    let loaded = state.stored(&id).await?;
    let (send, receive) = mpsc::channel::<SseEvent>(64);
    let first = sse("status", &summary_json(&loaded));
    tokio::spawn(async move {
        if send.send(first).await.is_err() {
            return;
        }
        if let Some((events, done)) = live
            && !follow(&id, events, done, &send).await
        {
            return;
        }
        let end = match state.stored(&id).await {
            Ok(loaded) => outcome_json(&loaded),
            Err(error) => json!({ "run_id": id, "error": error.message }),
        };
        let _ = send.send(sse("end", &end)).await;
    });
    let stream = futures_util::stream::unfold(receive, |mut receive| async move {
        receive
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), receive))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Forwards a run's events until it stops here and its end is stored; false when the client
/// has gone.
async fn follow(
    id: &str,
    mut events: broadcast::Receiver<Event>,
    mut done: tokio::sync::watch::Receiver<()>,
    send: &mpsc::Sender<SseEvent>,
) -> bool {
    loop {
        tokio::select! {
            // Events first: those of a run that has just ended are all sent before its end.
            biased;
            received = events.recv() => match received {
                Ok(event) if event.run() == id => {
                    let value = json!(event);
                    let name = value["type"].as_str().unwrap_or("event").to_string();
                    if send.send(sse(&name, &value)).await.is_err() {
                        return false;
                    }
                    if matches!(event, Event::RunFinished { .. }) {
                        wait_done(done, END_WAIT).await;
                        return true;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    if send.send(sse("lagged", &json!({ "missed": missed }))).await.is_err() {
                        return false;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return true,
            },
            // The run's end is stored (its last event may have been missed).
            _ = done.changed() => return true,
            () = send.closed() => return false,
        }
    }
}

fn sse(name: &str, value: &Value) -> SseEvent {
    SseEvent::default().event(name).data(value.to_string())
}

/// A run's status, as `GET /v1/runs/{id}` answers.
async fn status_json(state: &AppState, id: &str) -> ApiResult<Value> {
    let loaded = state.stored(id).await?;
    let run = id.to_string();
    let record: Option<RunRecord> = state
        .tables
        .blocking(move |tables| tables.run_record(&run))
        .await
        .map_err(|e| ApiError::internal("cannot read a run record", e))?;
    let live = state.live.lock().contains_key(id);
    let mut shown = summary_json(&loaded);
    shown["live"] = json!(live);
    shown["version"] = json!(record.as_ref().map(|r| r.version));
    shown["principal"] = json!(record.as_ref().map(|r| &r.principal));
    shown["input"] = loaded.input.clone();
    shown["pending_signals"] = json!(
        loaded
            .signals
            .iter()
            .map(pending_signal)
            .collect::<Vec<_>>()
    );
    if let Some(result) = &loaded.result {
        shown["terminal"] = json!(result.terminal);
        shown["output"] = json!(result.output);
        shown["error"] = json!(result.error);
    }
    Ok(shown)
}

fn summary_json(loaded: &LoadedRun) -> Value {
    let summary = &loaded.summary;
    json!({
        "run_id": summary.id,
        "workflow": summary.workflow,
        "status": summary.status.as_str(),
        "state": summary.state,
        "steps": summary.steps,
        "created_ms": summary.created_ms,
        "updated_ms": summary.updated_ms,
    })
}

fn outcome_json(loaded: &LoadedRun) -> Value {
    let mut shown = summary_json(loaded);
    if let Some(result) = &loaded.result {
        shown["terminal"] = json!(result.terminal);
        shown["output"] = json!(result.output);
        shown["error"] = json!(result.error);
        shown["duration_ms"] = json!(result.duration_ms);
    }
    shown
}

fn pending_signal(signal: &StoredSignal) -> Value {
    match &signal.reply {
        Ok((outcome, payload)) => json!({
            "seq": signal.seq,
            "name": signal.name,
            "outcome": outcome,
            "payload": payload,
        }),
        Err(reason) => json!({ "seq": signal.seq, "name": signal.name, "rejected": reason }),
    }
}

fn check_payload(state: &AppState, value: &Value, what: &str) -> ApiResult<()> {
    let limit = state.limits.max_input_bytes;
    let size = serde_json::to_vec(value).map_or(0, |bytes| bytes.len());
    if size > limit {
        return Err(ApiError::too_large(
            "payload_too_large",
            format!("the {what} is {size} bytes, more than the limit of {limit}"),
        ));
    }
    Ok(())
}

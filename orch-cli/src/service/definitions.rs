//! Definitions: proposals checked by the compiler, stored by name and version with tags and an
//! active version.
//!
//! Activation: the first version of a name, and every version added after it, becomes the
//! active one at once; `POST …/versions/{v}/activate` makes another one active (a rollback).
//! New runs start the active version; a run keeps the version it started under.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use orch_dsl::{Diagnostic, Diagnostics, LineIndex, Span};
use orch_runtime::store::{Definition, Definitions, Lifecycle, RunFilter, Store};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::extract::{Auth, Body, META, Path, Query, READ};
use super::state::{AppState, Reviewed, store_error};

const MAX_NAME_LEN: usize = 128;
const MAX_TAGS: usize = 32;
const MAX_TAG_LEN: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    text: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    text: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    text: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    tag: Option<String>,
    #[serde(default)]
    active: bool,
}

/// `POST /v1/check`: what the compiler and the server's rules say of a text; stores nothing.
pub async fn check(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Body(body): Body<CheckBody>,
) -> ApiResult<Json<Value>> {
    check_size(&state, &body.text)?;
    let reviewed = state.review(body.name.as_deref(), &body.text).await?;
    let (errors, warnings) = counts(&reviewed.diagnostics);
    Ok(Json(json!({
        "ok": reviewed.is_clean(),
        "errors": errors,
        "warnings": warnings,
        "diagnostics": diagnostics_json(&body.text, &reviewed.diagnostics),
        "problems": reviewed.problems,
        "workflows": reviewed.prepared.as_ref().map(|p| &p.bounds),
    })))
}

/// `POST /v1/definitions`: the first version of a new name.
pub async fn create(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Body(body): Body<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_name(&body.name)?;
    let tags = check_tags(body.tags)?;
    check_size(&state, &body.text)?;
    let reviewed = state.review(Some(&body.name), &body.text).await?;
    let (warnings, bounds) = accepted(&body.text, &reviewed)?;
    let _gate = state.gate.lock().await;
    if latest_version(&state, &body.name).await?.is_some() {
        return Err(ApiError::conflict(
            "definition_exists",
            format!(
                "a definition `{}` exists; add a version with `PUT /v1/definitions/{}`",
                body.name, body.name
            ),
        ));
    }
    let version = state
        .store
        .put_definition(&body.name, &body.text, tags)
        .await
        .map_err(store_error)?;
    stored_answer(&state, &body.name, version, warnings, bounds).await
}

/// `PUT /v1/definitions/{name}`: a new version of an existing name; it becomes active.
pub async fn update(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Body(body): Body<UpdateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tags = check_tags(body.tags)?;
    check_size(&state, &body.text)?;
    if latest_version(&state, &name).await?.is_none() {
        return Err(no_definition(&name));
    }
    let reviewed = state.review(Some(&name), &body.text).await?;
    let (warnings, bounds) = accepted(&body.text, &reviewed)?;
    let _gate = state.gate.lock().await;
    // Deleted in between.
    if latest_version(&state, &name).await?.is_none() {
        return Err(no_definition(&name));
    }
    let version = state
        .store
        .put_definition(&name, &body.text, tags)
        .await
        .map_err(store_error)?;
    stored_answer(&state, &name, version, warnings, bounds).await
}

/// `GET /v1/definitions?tag=T&active=true`: the latest version of each name (or its active
/// one), without texts.
pub async fn list(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let definitions = state
        .store
        .list_definitions(query.tag, query.active)
        .await
        .map_err(store_error)?;
    let shown: Vec<Value> = definitions
        .iter()
        .map(|d| definition_json(d, false))
        .collect();
    Ok(Json(json!({ "definitions": shown })))
}

/// `GET /v1/definitions/{name}`: the active version, with its text.
pub async fn get_active(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let definition = state.active(&name).await?;
    Ok(Json(definition_json(&definition, true)))
}

/// `GET /v1/definitions/{name}/versions`: every version, oldest first, without texts.
pub async fn versions(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let latest = latest_version(&state, &name)
        .await?
        .ok_or_else(|| no_definition(&name))?;
    let mut shown = Vec::new();
    for version in 1..=latest {
        if let Some(d) = state
            .store
            .get_definition(&name, Some(version))
            .await
            .map_err(store_error)?
        {
            shown.push(definition_json(&d, false));
        }
    }
    Ok(Json(json!({ "name": name, "versions": shown })))
}

/// `GET /v1/definitions/{name}/versions/{version}`: one version, with its text.
pub async fn get_version(
    Auth(_): Auth<READ>,
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, u64)>,
) -> ApiResult<Json<Value>> {
    let definition = state
        .store
        .get_definition(&name, Some(version))
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_version(&name, version))?;
    Ok(Json(definition_json(&definition, true)))
}

/// `POST /v1/definitions/{name}/versions/{version}/activate`.
pub async fn activate(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, u64)>,
) -> ApiResult<Json<Value>> {
    let _gate = state.gate.lock().await;
    state
        .store
        .activate_definition(&name, version)
        .await
        .map_err(|e| not_found_or(e, &name, version))?;
    drop(_gate);
    get_version_json(&state, &name, version).await
}

/// `PUT /v1/definitions/{name}/versions/{version}/tags`: replaces a version's tags.
pub async fn set_tags(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, u64)>,
    Body(body): Body<TagsBody>,
) -> ApiResult<Json<Value>> {
    let tags = check_tags(body.tags)?;
    let _gate = state.gate.lock().await;
    state
        .store
        .tag_definition(&name, version, tags)
        .await
        .map_err(|e| not_found_or(e, &name, version))?;
    drop(_gate);
    get_version_json(&state, &name, version).await
}

/// `DELETE /v1/definitions/{name}`: every version.
pub async fn delete_all(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    delete(&state, &name, None).await
}

/// `DELETE /v1/definitions/{name}/versions/{version}`.
pub async fn delete_version(
    Auth(_): Auth<META>,
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, u64)>,
) -> ApiResult<Json<Value>> {
    delete(&state, &name, Some(version)).await
}

/// Deletes versions whose runs have all finished.
async fn delete(state: &AppState, name: &str, version: Option<u64>) -> ApiResult<Json<Value>> {
    let _gate = state.gate.lock().await;
    let (of, n) = (name.to_string(), version);
    let started: HashSet<String> = state
        .tables
        .blocking(move |tables| tables.runs_of(&of, n))
        .await
        .map_err(|e| ApiError::internal("cannot read run records", e))?
        .into_iter()
        .collect();
    let mut unfinished: Vec<String> = state
        .live
        .lock()
        .iter()
        .filter(|(_, r)| r.definition == name && version.is_none_or(|v| r.version == v))
        .map(|(id, _)| id.clone())
        .collect();
    for status in [Lifecycle::Running, Lifecycle::Paused] {
        let runs = state
            .store
            .list(RunFilter {
                status: Some(status),
                workflow: None,
            })
            .await
            .map_err(store_error)?;
        unfinished.extend(
            runs.into_iter()
                .filter(|r| started.contains(&r.id))
                .map(|r| r.id),
        );
    }
    unfinished.sort();
    unfinished.dedup();
    if !unfinished.is_empty() {
        let shown: Vec<String> = unfinished
            .iter()
            .take(10)
            .map(|r| format!("`{r}`"))
            .collect();
        return Err(ApiError::conflict(
            "definition_in_use",
            format!(
                "runs of it have not finished: {}{}; cancel them or let them end first",
                shown.join(", "),
                if unfinished.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        )
        .with("runs", json!(unfinished)));
    }
    let deleted = state
        .store
        .delete_definition(name, version)
        .await
        .map_err(store_error)?;
    if deleted == 0 {
        return Err(match version {
            Some(version) => no_version(name, version),
            None => no_definition(name),
        });
    }
    state.forget(name, version).await;
    Ok(Json(json!({ "name": name, "deleted": deleted })))
}

async fn get_version_json(state: &AppState, name: &str, version: u64) -> ApiResult<Json<Value>> {
    let definition = state
        .store
        .get_definition(name, Some(version))
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_version(name, version))?;
    Ok(Json(definition_json(&definition, false)))
}

/// The answer to a stored proposal: the version as stored, its warnings and bounds.
async fn stored_answer(
    state: &AppState,
    name: &str,
    version: u64,
    warnings: Vec<Value>,
    bounds: Value,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let definition = state
        .store
        .get_definition(name, Some(version))
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_version(name, version))?;
    let mut shown = definition_json(&definition, false);
    shown["warnings"] = json!(warnings);
    shown["workflows"] = bounds;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// The latest version number of `name`, if it has any.
async fn latest_version(state: &AppState, name: &str) -> ApiResult<Option<u64>> {
    Ok(state
        .store
        .list_definitions(None, false)
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.version))
}

/// The warnings and bounds of a clean proposal; else every diagnostic and problem, as a 422.
fn accepted(text: &str, reviewed: &Reviewed) -> ApiResult<(Vec<Value>, Value)> {
    if let (true, Some(prepared)) = (reviewed.is_clean(), &reviewed.prepared) {
        return Ok((
            diagnostics_json(text, &reviewed.diagnostics),
            json!(prepared.bounds),
        ));
    }
    let (errors, warnings) = counts(&reviewed.diagnostics);
    let message = match (errors, reviewed.problems.len()) {
        (0, n) => format!(
            "the definition breaks {n} rule{} of this server",
            if n == 1 { "" } else { "s" }
        ),
        (e, _) => format!(
            "the definition has {e} error{}; nothing was stored",
            if e == 1 { "" } else { "s" }
        ),
    };
    Err(ApiError::unprocessable("invalid_definition", message)
        .with("errors", json!(errors))
        .with("warnings", json!(warnings))
        .with(
            "diagnostics",
            json!(diagnostics_json(text, &reviewed.diagnostics)),
        )
        .with("problems", json!(reviewed.problems)))
}

fn counts(diagnostics: &Diagnostics) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

/// Diagnostics as JSON, each with its position as line and column (1-based, columns counting
/// characters) and byte offsets.
pub fn diagnostics_json(text: &str, diagnostics: &Diagnostics) -> Vec<Value> {
    let index = LineIndex::new(text);
    diagnostics
        .iter()
        .map(|d| diagnostic_json(d, &index))
        .collect()
}

fn diagnostic_json(diagnostic: &Diagnostic, index: &LineIndex<'_>) -> Value {
    let mut shown = place(diagnostic.span, index);
    let secondary: Vec<Value> = diagnostic
        .secondary
        .iter()
        .map(|label| {
            let mut shown = place(label.span, index);
            shown["message"] = json!(label.message);
            shown
        })
        .collect();
    let fields = json!({
        "code": diagnostic.code.as_str(),
        "severity": diagnostic.severity,
        "message": diagnostic.message,
        "label": diagnostic.label,
        "help": diagnostic.help,
        "notes": diagnostic.notes,
        "secondary": secondary,
    });
    if let (Value::Object(shown), Value::Object(fields)) = (&mut shown, fields) {
        shown.extend(fields);
    }
    shown
}

fn place(span: Span, index: &LineIndex<'_>) -> Value {
    let start = index.line_col(span.start());
    let end = index.line_col(span.end());
    json!({
        "line": start.line,
        "column": start.column,
        "end_line": end.line,
        "end_column": end.column,
        "offset": span.start(),
        "end_offset": span.end(),
    })
}

pub fn definition_json(definition: &Definition, with_text: bool) -> Value {
    let mut shown = json!({
        "name": definition.name,
        "version": definition.version,
        "active": definition.active,
        "tags": definition.tags,
        "hash": definition.hash,
        "created_ms": definition.created_ms,
    });
    if with_text {
        shown["text"] = json!(definition.text);
    }
    shown
}

fn check_size(state: &AppState, text: &str) -> ApiResult<()> {
    let limit = state.limits.max_definition_bytes;
    if text.len() > limit {
        return Err(ApiError::too_large(
            "definition_too_large",
            format!(
                "the definition is {} bytes, more than the limit of {limit}",
                text.len()
            ),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || name.len() > MAX_NAME_LEN
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::unprocessable(
            "invalid_name",
            format!(
                "a definition's name is the name of the workflow its runs start: a letter or `_` \
                 then letters, digits and `_`, at most {MAX_NAME_LEN} characters"
            ),
        ));
    }
    Ok(())
}

fn check_tags(tags: Vec<String>) -> ApiResult<BTreeSet<String>> {
    let valid = |tag: &String| {
        !tag.is_empty()
            && tag.len() <= MAX_TAG_LEN
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
    };
    if tags.len() > MAX_TAGS || !tags.iter().all(valid) {
        return Err(ApiError::unprocessable(
            "invalid_tags",
            format!(
                "at most {MAX_TAGS} tags, each of 1 to {MAX_TAG_LEN} letters, digits and `_-.:/`"
            ),
        ));
    }
    Ok(tags.into_iter().collect())
}

fn no_definition(name: &str) -> ApiError {
    ApiError::not_found("no_definition", format!("no definition `{name}`"))
}

fn no_version(name: &str, version: u64) -> ApiError {
    ApiError::not_found(
        "no_definition",
        format!("no version {version} of definition `{name}`"),
    )
}

fn not_found_or(error: orch_runtime::store::StoreError, name: &str, version: u64) -> ApiError {
    match error {
        orch_runtime::store::StoreError::UnknownDefinition { .. } => no_version(name, version),
        other => store_error(other),
    }
}

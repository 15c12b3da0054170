//! Request extractors: the bearer token and its permission, and JSON bodies, queries and paths
//! whose rejections answer in the API's error format.
//!
//! Handlers take the token first, so a request without the right token is refused before its
//! body is read.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use super::tables::{Permission, Principal};

pub const META: u8 = 0;
pub const RUN: u8 = 1;
pub const READ: u8 = 2;

/// The longest token text looked up; anything longer cannot be one.
const MAX_TOKEN_LEN: usize = 256;

/// A request whose bearer token is valid, not revoked, and carries permission `P`.
pub struct Auth<const P: u8>(pub Principal);

fn required(code: u8) -> Permission {
    match code {
        META => Permission::Meta,
        RUN => Permission::Run,
        _ => Permission::Read,
    }
}

impl<const P: u8> FromRequestParts<Arc<AppState>> for Auth<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Auth<P>, ApiError> {
        let unauthorized = |message: &str| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message.to_string(),
            )
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "this endpoint needs a token: `Authorization: Bearer TOKEN` (`orch token create` makes one)",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
            .ok_or_else(|| unauthorized("the `Authorization` header must be `Bearer TOKEN`"))?
            .to_string();
        let principal = state
            .tables
            .blocking(move |tables| tables.authenticate(&token))
            .await
            .map_err(|e| ApiError::internal("cannot check a token", e))?
            .ok_or_else(|| unauthorized("the token is unknown or revoked"))?;
        let permission = required(P);
        if !principal.permissions.contains(&permission) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the token of `{}` lacks the `{}` permission this endpoint needs",
                    principal.name,
                    permission.as_str()
                ),
            ));
        }
        Ok(Auth(principal))
    }
}

/// A JSON body.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Body(value))
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// Path parameters.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

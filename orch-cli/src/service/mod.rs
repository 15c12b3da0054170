//! `orch serve`: orchestration as a service. An HTTP JSON API over a run store: definitions
//! proposed, checked and stored by version; runs started, watched, paused, resumed, cancelled
//! and signalled; every endpoint behind a token with the permission it needs; limits against
//! hostile or careless definitions and inputs. docs/service.md describes the API.

mod definitions;
mod error;
mod extract;
mod limits;
mod runs;
mod state;
pub mod tables;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use orch_runtime::store::SqliteStore;
use tower_http::catch_panic::CatchPanicLayer;

use self::limits::Limits;
use self::state::AppState;
use self::tables::Tables;
use crate::diagnostics::Colour;
use crate::durable::Locks;
use crate::error::CliError;
use crate::run::Bindings;

/// How often runs that ended unseen are looked for.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// How long open connections (event streams) get to end after Ctrl-C or SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run store (a SQLite file, created if missing); tokens are kept in it too.
    #[arg(long, value_name = "PATH", default_value = "runs.db")]
    store: PathBuf,
    /// The address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:7878")]
    listen: String,
    /// The worker bindings (default: `orch.toml` in the current directory, if there is one).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    limits: Limits,
}

pub fn run(args: Args, _colour: Colour) -> Result<u8, CliError> {
    let store = open_store(&args.store)?;
    let tables = Tables::open(&args.store).map_err(|e| {
        CliError::new(format!(
            "cannot open the token tables in `{}`: {e}",
            args.store.display()
        ))
    })?;
    // `--config`, else `orch.toml` in the current directory, read by `orch run`'s own code.
    let bindings = Bindings::read(args.config.as_deref(), None)?;
    let locks = Locks::open(&args.store)?;
    crate::run::block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| CliError::new(format!("cannot listen on `{}`: {e}", args.listen)))?;
        let address: SocketAddr = listener
            .local_addr()
            .map_err(|e| CliError::new(format!("cannot listen on `{}`: {e}", args.listen)))?;
        let state = Arc::new(AppState::new(store, tables, args.limits, bindings, locks));
        let resumed = state
            .resume_all()
            .await
            .map_err(|e| CliError::new(format!("cannot resume runs: {}", e.message)))?;
        for (id, outcome) in resumed {
            match outcome {
                Ok(()) => eprintln!("orch serve: resumed run {id}"),
                Err(why) => eprintln!("orch serve: run {id} left as it is: {why}"),
            }
        }
        let live = state.live.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                live.sweep();
            }
        });
        let app = router(state);
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "orch serve: listening on http://{address}");
            let _ = out.flush();
        }
        let stop = Arc::new(tokio::sync::Notify::new());
        let server = axum::serve(listener, app).with_graceful_shutdown({
            let stop = stop.clone();
            async move { stop.notified().await }
        });
        tokio::select! {
            served = server.into_future() => {
                served.map_err(|e| CliError::new(format!("the server stopped: {e}")))?;
            }
            () = async {
                stopped().await;
                eprintln!("orch serve: stopping; runs still running resume at the next start");
                stop.notify_one();
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {}
        }
        Ok(0)
    })
}

/// Every endpoint, with the body limit and panics answered as errors.
fn router(state: Arc<AppState>) -> Router {
    use self::definitions as d;
    let body_limit = state.limits.max_body_bytes();
    Router::new()
        .route("/v1/check", post(d::check))
        .route("/v1/definitions", post(d::create).get(d::list))
        .route(
            "/v1/definitions/{name}",
            get(d::get_active).put(d::update).delete(d::delete_all),
        )
        .route("/v1/definitions/{name}/versions", get(d::versions))
        .route(
            "/v1/definitions/{name}/versions/{version}",
            get(d::get_version).delete(d::delete_version),
        )
        .route(
            "/v1/definitions/{name}/versions/{version}/activate",
            post(d::activate),
        )
        .route(
            "/v1/definitions/{name}/versions/{version}/tags",
            put(d::set_tags),
        )
        .route("/v1/runs", post(runs::start).get(runs::list))
        .route("/v1/runs/{id}", get(runs::status))
        .route("/v1/runs/{id}/result", get(runs::result))
        .route("/v1/runs/{id}/trail", get(runs::trail))
        .route("/v1/runs/{id}/events", get(runs::events))
        .route("/v1/runs/{id}/pause", post(runs::pause))
        .route("/v1/runs/{id}/resume", post(runs::resume))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/runs/{id}/signals", post(runs::signal))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::no_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(error::panicked))
        .with_state(state)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Opens (or creates) the run store at `path`, with its definitions.
pub fn open_store(path: &Path) -> Result<Arc<SqliteStore>, CliError> {
    if path.is_dir() {
        return Err(CliError::new(format!(
            "the run store `{}` is a folder, not a file",
            path.display()
        )));
    }
    SqliteStore::open(path)
        .map(Arc::new)
        .map_err(|e| CliError::new(e.to_string()))
}

//! Workers bound to roles: `[roles.NAME]` tables of `orch.toml`, a worker in one role
//! (`role = "writer"`) or a pool of roles (`pool = ["rust_dev", "web_dev"]`), asked through an
//! OpenAI-compatible chat-completions endpoint (`orch_runtime::chat`; docs/llm.md).
//!
//! ```toml
//! [roles.writer]
//! instruction = "You write short articles about {{input.topic}}."
//! tags = ["writing"]
//! model = "gpt-4o-mini"
//!
//! [prices."gpt-4o-mini"]
//! prompt = 0.15        # dollars per million tokens
//! completion = 0.60
//!
//! [workers.Writer]
//! role = "writer"
//! timeout = "2m"       # optional
//!
//! [workers.Developer]
//! pool = ["rust_dev", "web_dev"]
//! route = "capability" # or "round_robin" (the default)
//! field = "needs"      # the input field listing the capabilities a call needs
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orch_dsl::ir;
use orch_runtime::Pool;
use orch_runtime::chat::{ChatWorker, Prices, Role};

use super::config::Binding;

/// A worker in one role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub role: Role,
    pub prices: Prices,
    pub timeout: Option<Duration>,
}

/// A worker name served by several roles.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    pub roles: Vec<Role>,
    pub route: Route,
    pub prices: Prices,
    pub timeout: Option<Duration>,
}

/// How a pool picks the role for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The roles take turns.
    RoundRobin,
    /// The roles whose tags include every capability the call's input lists under this field
    /// take turns; a call no role can serve fails without retries.
    Capability(String),
}

/// The keys of a `[workers.NAME]` table that concern roles.
pub struct RoleKeys {
    pub role: Option<String>,
    pub pool: Option<Vec<String>>,
    pub route: Option<String>,
    pub field: Option<String>,
}

impl RoleKeys {
    pub fn any(&self) -> bool {
        self.role.is_some() || self.pool.is_some() || self.route.is_some() || self.field.is_some()
    }
}

/// Checks the `[roles]` tables and names each role.
pub fn roles(raw: BTreeMap<String, Role>) -> Result<BTreeMap<String, Role>, String> {
    raw.into_iter()
        .map(|(name, role)| {
            let role = role.named(name.clone());
            role.check().map_err(|m| format!("role `{name}`: {m}"))?;
            Ok((name, role))
        })
        .collect()
}

/// The binding of a worker with `role` or `pool`; `others` are the other keys it sets, which
/// such a worker cannot have.
pub fn binding(
    keys: RoleKeys,
    others: &[&str],
    timeout: Option<Duration>,
    roles: &BTreeMap<String, Role>,
    prices: &Prices,
) -> Result<Binding, String> {
    if let Some(other) = others.first() {
        let this = if keys.role.is_some() { "role" } else { "pool" };
        return Err(format!(
            "set one of `command`, `url`, `role` and `pool`, not both `{this}` and `{other}`"
        ));
    }
    let find = |name: &str| {
        roles.get(name).cloned().ok_or_else(|| {
            let hint = orch_dsl::suggest::closest(name, roles.keys().map(String::as_str))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            format!("there is no `[roles.{name}]`{hint}")
        })
    };
    match (keys.role, keys.pool) {
        (Some(_), Some(_)) => Err("set `role` or `pool`, not both".into()),
        (Some(role), None) => {
            if keys.route.is_some() || keys.field.is_some() {
                return Err("`route` and `field` are for `pool` workers".into());
            }
            Ok(Binding::Role(Box::new(RoleSpec {
                role: find(&role)?,
                prices: prices.clone(),
                timeout,
            })))
        }
        (None, Some(pool)) => {
            if pool.is_empty() {
                return Err("`pool` is empty: list the roles that serve the worker".into());
            }
            let mut seen = BTreeSet::new();
            if let Some(twice) = pool.iter().find(|name| !seen.insert(name.as_str())) {
                return Err(format!("`pool` lists `{twice}` twice"));
            }
            let route = match (keys.route.as_deref(), keys.field) {
                (None | Some("round_robin"), None) => Route::RoundRobin,
                (None | Some("round_robin"), Some(_)) => {
                    return Err("`field` is for `route = \"capability\"`".into());
                }
                (Some("capability"), Some(field)) if !field.is_empty() => Route::Capability(field),
                (Some("capability"), _) => {
                    return Err("`route = \"capability\"` needs a `field`: the input field \
                                listing the capabilities a call needs"
                        .into());
                }
                (Some(other), _) => {
                    return Err(format!(
                        "`route` is `round_robin` or `capability`, not `{other}`"
                    ));
                }
            };
            Ok(Binding::Pool(PoolSpec {
                roles: pool
                    .iter()
                    .map(|name| find(name))
                    .collect::<Result<_, _>>()?,
                route,
                prices: prices.clone(),
                timeout,
            }))
        }
        (None, None) => Err("`route` and `field` are for `pool` workers".into()),
    }
}

/// The outcomes the workflows of `program` give worker `name` (`ok` included when it may
/// answer a plain success), or `None` when none of them declares it.
pub fn outcomes(program: &ir::Program, name: &str) -> Option<Vec<String>> {
    let mut found: Option<Vec<String>> = None;
    for worker in program
        .workflows
        .iter()
        .flat_map(|w| &w.workers)
        .filter(|w| w.name == name)
    {
        let all = found.get_or_insert_with(Vec::new);
        for outcome in &worker.outcomes {
            if !all.iter().any(|o| o == outcome) {
                all.push(outcome.to_string());
            }
        }
    }
    found
}

/// The worker for a role, answering the outcomes the workflows give it.
pub fn worker(
    role: &Role,
    prices: &Prices,
    timeout: Option<Duration>,
    outcomes: Option<&[String]>,
) -> ChatWorker {
    let mut worker = ChatWorker::new(role.clone()).prices(prices.clone());
    if let Some(timeout) = timeout {
        worker = worker.timeout(timeout);
    }
    if let Some(outcomes) = outcomes {
        worker = worker.outcomes(outcomes.iter().cloned());
    }
    worker
}

/// The pool for a pool binding.
pub fn pool(spec: &PoolSpec, outcomes: Option<&[String]>) -> Pool {
    let workers = spec
        .roles
        .iter()
        .map(|role| worker(role, &spec.prices, spec.timeout, outcomes));
    match &spec.route {
        Route::RoundRobin => orch_runtime::chat::round_robin_pool(workers),
        Route::Capability(field) => orch_runtime::chat::capability_pool(field, workers),
    }
}

/// Why a role-bound worker cannot work, if it cannot: a role of `binding` names no model and
/// `OPENAI_MODEL` is not set, or `program` gives worker `name` outcomes other than `ok` but the
/// role answers plain text. `None` for workers bound otherwise.
pub fn problem(program: &ir::Program, name: &str, binding: &Binding) -> Option<String> {
    let roles: Vec<&Role> = match binding {
        Binding::Role(spec) => vec![&spec.role],
        Binding::Pool(spec) => spec.roles.iter().collect(),
        Binding::Command(_) | Binding::Http(_) => return None,
    };
    let env_model = std::env::var("OPENAI_MODEL").is_ok_and(|m| !m.trim().is_empty());
    let outcomes = outcomes(program, name).unwrap_or_default();
    let custom: Vec<&String> = outcomes.iter().filter(|o| *o != "ok").collect();
    for role in roles {
        if role.model.is_none() && !env_model {
            return Some(format!(
                "worker `{name}`: role `{}` names no `model`, and `OPENAI_MODEL` is not set",
                role.name
            ));
        }
        if !custom.is_empty() && !role.structured() {
            let list: Vec<String> = custom.iter().map(|o| format!("`{o}`")).collect();
            return Some(format!(
                "worker `{name}` answers {}, but its role `{}` answers plain text, which can \
                 only be `ok`: give the role `json = true` or a `schema` with an `outcome` field",
                list.join(", "),
                role.name
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::config::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("orch.toml"), Path::new("/w")).map_err(|e| e.message)
    }

    const ROLES: &str = r#"
        [roles.rust_dev]
        instruction = "You write Rust."
        tags = ["rust"]
        model = "m"
        [roles.web_dev]
        instruction = "You write web pages."
        tags = ["css"]
        model = "m"
        [prices.m]
        prompt = 1.5
        completion = 3
    "#;

    #[test]
    fn roles_pools_and_prices_are_read() {
        let config = parse(&format!(
            "{ROLES}
            [workers.Rust]
            role = \"rust_dev\"
            timeout = \"90s\"
            [workers.Developer]
            pool = [\"rust_dev\", \"web_dev\"]
            route = \"capability\"
            field = \"needs\"
            [workers.Anyone]
            pool = [\"web_dev\", \"rust_dev\"]
            "
        ))
        .unwrap();
        let Binding::Role(rust) = &config.workers["Rust"] else {
            panic!("`Rust` is a role")
        };
        assert_eq!(rust.role.name, "rust_dev");
        assert_eq!(rust.role.tags, ["rust"]);
        assert_eq!(rust.timeout, Some(Duration::from_secs(90)));
        let price = rust.prices.find("m", None).unwrap();
        assert_eq!((price.prompt, price.completion), (1.5, 3.0));
        let Binding::Pool(developer) = &config.workers["Developer"] else {
            panic!("`Developer` is a pool")
        };
        assert_eq!(developer.route, Route::Capability("needs".into()));
        let names: Vec<&str> = developer.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["rust_dev", "web_dev"]);
        let Binding::Pool(anyone) = &config.workers["Anyone"] else {
            panic!("`Anyone` is a pool")
        };
        assert_eq!(anyone.route, Route::RoundRobin);
    }

    #[test]
    fn pool_mistakes_are_named() {
        let cases = [
            ("pool = []", "`pool` is empty"),
            (
                "pool = [\"rust_dev\", \"rust_dev\"]",
                "lists `rust_dev` twice",
            ),
            (
                "pool = [\"rust_dev\"]\nfield = \"needs\"",
                "`field` is for `route = \"capability\"`",
            ),
            (
                "role = \"rust_dev\"\nroute = \"capability\"",
                "are for `pool` workers",
            ),
            ("route = \"capability\"", "are for `pool` workers"),
            (
                "role = \"rust_dev\"\npool = [\"web_dev\"]",
                "set `role` or `pool`, not both",
            ),
            ("pool = [\"go_dev\"]", "there is no `[roles.go_dev]`"),
            (
                "role = \"rust_dev\"\nurl = \"http://x\"",
                "not both `role` and `url`",
            ),
            (
                "pool = [\"rust_dev\"]\nenv = { A = \"b\" }",
                "not both `pool` and `env`",
            ),
        ];
        for (worker, expected) in cases {
            let error = parse(&format!("{ROLES}\n[workers.W]\n{worker}\n")).unwrap_err();
            assert!(error.contains(expected), "{worker}: {error}");
        }
        let error = parse("[roles.r]\ninstruction = \"x\"\ntemperature = 5.0\n").unwrap_err();
        assert!(
            error.contains("role `r`: `temperature` must be between 0 and 2"),
            "{error}"
        );
    }
}

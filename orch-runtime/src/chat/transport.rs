//! One POST to a chat-completions endpoint, on a blocking thread, and `Retry-After`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest response body read.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// What the endpoint answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub reason: Option<&'static str>,
    /// From `retry-after-ms` or `Retry-After`.
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Answer {
    /// `429 Too Many Requests`.
    pub fn status_line(&self) -> String {
        match self.reason {
            Some(reason) => format!("{} {reason}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) enum Failure {
    Timeout,
    Retryable(String),
    Permanent(String),
}

/// Statuses worth retrying: 408, 429 and 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirected POST would become a GET without the request: report it instead.
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .user_agent(concat!("orch/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// POSTs `body` to `url`; blocks.
pub(crate) fn post(
    agent: &ureq::Agent,
    url: &str,
    api_key: Option<&str>,
    body: &[u8],
) -> Result<Answer, Failure> {
    let mut request = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    if let Some(key) = api_key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let mut response = request.send(body).map_err(failure)?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = retry_after(
        header("retry-after-ms").as_deref(),
        header("retry-after").as_deref(),
        SystemTime::now(),
    );
    let body = response
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
        .map_err(failure)?;
    Ok(Answer {
        status: status.as_u16(),
        reason: status.canonical_reason(),
        retry_after,
        body,
    })
}

fn failure(error: ureq::Error) -> Failure {
    match error {
        ureq::Error::Timeout(_) => Failure::Timeout,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Failure::Timeout,
        ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::BodyExceedsLimit(_) => Failure::Permanent(error.to_string()),
        other => Failure::Retryable(other.to_string()),
    }
}

/// How long the endpoint asks to wait: `retry-after-ms` (milliseconds), else `Retry-After` as
/// seconds or as an HTTP date.
pub(crate) fn retry_after(
    ms: Option<&str>,
    header: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let seconds = |text: &str| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    if let Some(ms) = ms.and_then(seconds) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let header = header?;
    if let Some(seconds) = seconds(header) {
        return Some(Duration::from_secs_f64(seconds));
    }
    let at = http_date(header)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let clock: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = clock.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_every_form() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let at = |ms, header| retry_after(ms, header, now);
        assert_eq!(at(None, Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(at(None, Some("0.5")), Some(Duration::from_millis(500)));
        assert_eq!(at(Some("250"), Some("3")), Some(Duration::from_millis(250)));
        assert_eq!(
            at(None, Some("Sun, 06 Nov 1994 08:49:47 GMT")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            at(None, Some("Sun, 06 Nov 1994 08:49:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(at(None, Some("soon")), None);
        assert_eq!(at(None, Some("-1")), None);
        assert_eq!(at(None, None), None);
    }

    #[test]
    fn which_statuses_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 422, 302] {
            assert!(!retryable_status(status), "{status}");
        }
    }
}

//! A chat-completions endpoint on 127.0.0.1 for tests: it records every request and answers
//! as the test says — completions with token counts, error statuses with headers, delays.
//!
//! Shared by the tests of `orch-runtime`, of the `orch` command and of the examples
//! (`#[path = …] mod chat_server;`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `POST /v1/chat/completions`.
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// When it arrived (the wall clock, not tokio's).
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The content of the first message with this role (`system`, `user`), or "".
    pub fn message(&self, role: &str) -> &str {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
    }
}

/// What the server answers to one request.
#[derive(Clone, Debug)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
    delay: Duration,
}

#[derive(Clone, Debug)]
enum Body {
    Raw(String),
    Completion {
        content: String,
        prompt_tokens: u64,
        completion_tokens: u64,
        /// The model reported; by default the one asked for.
        model: Option<String>,
        finish_reason: &'static str,
    },
}

impl Answer {
    /// A 200 with a chat completion whose first choice says `content`.
    pub fn completion(content: &str, prompt_tokens: u64, completion_tokens: u64) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: Body::Completion {
                content: content.to_string(),
                prompt_tokens,
                completion_tokens,
                model: None,
                finish_reason: "stop",
            },
            delay: Duration::ZERO,
        }
    }

    /// A 200 whose content is `value` as JSON text.
    pub fn json(value: Value, prompt_tokens: u64, completion_tokens: u64) -> Answer {
        Answer::completion(&value.to_string(), prompt_tokens, completion_tokens)
    }

    /// Any status with a body as it is; an error body in the API's shape for `{"error": …}`.
    pub fn status(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Body::Raw(body.to_string()),
            delay: Duration::ZERO,
        }
    }

    /// An API error: `{"error": {"message": …}}`.
    pub fn error(status: u16, message: &str) -> Answer {
        Answer::status(
            status,
            &json!({"error": {"message": message, "type": "test"}}).to_string(),
        )
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The completion reports this model instead of the one asked for.
    pub fn model(mut self, reported: &str) -> Answer {
        if let Body::Completion { model, .. } = &mut self.body {
            *model = Some(reported.to_string());
        }
        self
    }

    /// Answers only after `delay`.
    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

type Respond = dyn Fn(&Received, usize) -> Answer + Send + Sync;

/// The server; it stops when dropped.
pub struct ChatServer {
    /// `http://127.0.0.1:PORT/v1`, for `OPENAI_BASE_URL` or `ChatWorker::base_url`.
    pub base_url: String,
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl ChatServer {
    /// A server answering each request with `respond(request, index)`; requests are handled
    /// concurrently, one connection each.
    pub fn start(
        respond: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> ChatServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Respond> = Arc::new(respond);
        let count = Arc::new(AtomicUsize::new(0));
        {
            let received = received.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (received, respond, count) =
                        (received.clone(), respond.clone(), count.clone());
                    std::thread::spawn(move || serve(stream, &received, &*respond, &count));
                }
            });
        }
        ChatServer {
            base_url: format!("http://{addr}/v1"),
            addr,
            received,
            stop,
        }
    }

    /// A server giving `answers` in order, then 500s.
    pub fn scripted(answers: Vec<Answer>) -> ChatServer {
        ChatServer::start(move |_, index| {
            answers
                .get(index)
                .cloned()
                .unwrap_or_else(|| Answer::error(500, "the test has no more answers"))
        })
    }

    /// Every request so far, in the order they arrived.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    respond: &Respond,
    count: &AtomicUsize,
) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            let value = value.trim().to_string();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name.to_string(), value));
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Received {
        line: line.trim_end().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    };
    let answer = {
        // Numbered and recorded under one lock, so that the index is the arrival order.
        let mut all = received.lock().unwrap();
        all.push(request.clone());
        let index = count.fetch_add(1, Ordering::SeqCst);
        respond(&request, index)
    };
    std::thread::sleep(answer.delay);
    let text = match &answer.body {
        Body::Raw(text) => text.clone(),
        Body::Completion {
            content,
            prompt_tokens,
            completion_tokens,
            model,
            finish_reason,
        } => json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model.clone().unwrap_or_else(|| request.body["model"].as_str().unwrap_or("").to_string()),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        })
        .to_string(),
    };
    let reason = match answer.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        answer.status,
        text.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = reader.into_inner();
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

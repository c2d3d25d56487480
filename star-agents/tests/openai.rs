//! The OpenAI-compatible client against a local scripted HTTP server.

use serde_json::{json, Value};
use star_agents::chat::openai::{OpenAiClient, OpenAiConfig};
use star_agents::chat::{ChatError, ChatMessage, ChatModel, ToolCallRequest, ToolSpec, Usage};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One scripted answer of the test server.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Wait this long after reading the request before answering.
    delay: Duration,
}

impl Reply {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    fn ok(body: Value) -> Self {
        Reply::new(200, body.to_string())
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Read the request, then close the connection without an answer.
    fn dropped() -> Self {
        Reply::new(0, "")
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Recorded {
    /// Request line and headers.
    head: String,
    /// The body, parsed as JSON (`Null` when it is not JSON).
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// A scripted HTTP/1.1 server: answers connections with the queued replies in order (a 599 once
/// the queue is empty), one thread per connection, recording requests and the peak number of
/// requests awaiting an answer.
struct TestServer {
    base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    peak_in_flight: Arc<AtomicUsize>,
}

impl TestServer {
    fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let queue = Arc::new(Mutex::new(VecDeque::from(replies)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak_in_flight = Arc::new(AtomicUsize::new(0));
        {
            let requests = Arc::clone(&requests);
            let peak = Arc::clone(&peak_in_flight);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let reply =
                        queue.lock().unwrap().pop_front().unwrap_or_else(|| {
                            Reply::new(599, "test server: no scripted reply left")
                        });
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let requests = Arc::clone(&requests);
                    let in_flight = Arc::clone(&in_flight);
                    thread::spawn(move || serve(stream, reply, &requests, &in_flight));
                }
            });
        }
        TestServer {
            base_url,
            requests,
            peak_in_flight,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// A client config for this server with tiny back-offs.
    fn config(&self) -> OpenAiConfig {
        let mut cfg = OpenAiConfig::new(&self.base_url, "test-model");
        cfg.backoff = Duration::from_millis(2);
        cfg.timeout = Duration::from_secs(10);
        cfg
    }
}

/// Reads one request, waits, answers and closes. The in-flight count drops *before* the answer is
/// written, so it never over-counts while the client reuses its permit.
fn serve(
    stream: TcpStream,
    reply: Reply,
    requests: &Mutex<Vec<Recorded>>,
    in_flight: &AtomicUsize,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if let Some(recorded) = read_request(&stream) {
        requests.lock().unwrap().push(recorded);
    }
    thread::sleep(reply.delay);
    in_flight.fetch_sub(1, Ordering::SeqCst);
    if reply.status == 0 {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    // The client may have given up already (timeout test): ignore write errors.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Reads the request head and its `Content-Length` body.
fn read_request(stream: &TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        head,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn completion(content: &str) -> Value {
    json!({
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    })
}

fn hello() -> Vec<ChatMessage> {
    vec![ChatMessage::user("hello")]
}

#[test]
fn client_is_send_sync_and_describes_itself() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<OpenAiClient>();
    let client = OpenAiClient::new(OpenAiConfig::new("http://localhost:8000/v1", "qwen"));
    assert_eq!(client.describe(), "openai:qwen@http://localhost:8000/v1");
}

#[test]
fn normal_completion_is_parsed_and_request_is_openai_format() {
    let server = TestServer::start(vec![Reply::ok(completion("Kolya first."))]);
    let mut cfg = server.config();
    cfg.base_url.push('/'); // a trailing slash is ignored
    cfg.api_key = Some("sk-test".into());
    cfg.max_tokens = Some(64);
    cfg.temperature = 0.5;
    let client = OpenAiClient::new(cfg);

    let messages = vec![
        ChatMessage::system("You rank movies."),
        ChatMessage::user("Rank these."),
        ChatMessage {
            tool_calls: vec![ToolCallRequest {
                id: "call_7".into(),
                name: "item_cf".into(),
                arguments: r#"{"item": 242}"#.into(),
            }],
            ..ChatMessage::assistant("")
        },
        ChatMessage::tool("call_7", "[50, 181]"),
    ];
    let tools = vec![ToolSpec {
        name: "item_cf".into(),
        description: "Items co-liked with an item.".into(),
        parameters: json!({"type": "object", "properties": {"item": {"type": "integer"}}}),
    }];
    let response = client.chat(&messages, Some(&tools)).expect("chat succeeds");

    assert_eq!(response.message.content, "Kolya first.");
    assert!(response.message.tool_calls.is_empty());
    assert_eq!(
        response.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 5
        }
    );
    assert_eq!(response.attempts, 1);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(
        request.head.starts_with("POST /v1/chat/completions "),
        "{}",
        request.head
    );
    assert_eq!(
        request.header("authorization").as_deref(),
        Some("Bearer sk-test")
    );
    let body = &request.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You rank movies."},
            {"role": "user", "content": "Rank these."},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_7", "type": "function",
                 "function": {"name": "item_cf", "arguments": "{\"item\": 242}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_7", "content": "[50, 181]"}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{
            "type": "function",
            "function": {
                "name": "item_cf",
                "description": "Items co-liked with an item.",
                "parameters": {"type": "object", "properties": {"item": {"type": "integer"}}}
            }
        }])
    );
}

#[test]
fn tool_call_completion_is_parsed_with_raw_arguments() {
    let server = TestServer::start(vec![Reply::ok(json!({
        "choices": [{"message": {
            "role": "assistant",
            "content": null,
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "user_history", "arguments": "{\"user\": 3, \"k\": 10}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "broken", "arguments": "{not json"}}
            ]
        }}]
    }))]);
    let client = OpenAiClient::new(server.config());
    let response = client.chat(&hello(), None).expect("chat succeeds");

    assert_eq!(response.message.content, "");
    assert_eq!(
        response.message.tool_calls,
        vec![
            ToolCallRequest {
                id: "call_1".into(),
                name: "user_history".into(),
                arguments: "{\"user\": 3, \"k\": 10}".into(),
            },
            ToolCallRequest {
                id: "call_2".into(),
                name: "broken".into(),
                arguments: "{not json".into(),
            },
        ]
    );
    assert_eq!(response.usage, Usage::default(), "no usage reported");

    let request = &server.requests()[0];
    assert_eq!(request.header("authorization"), None, "no key, no header");
    assert!(request.body.get("tools").is_none());
    assert!(request.body.get("max_tokens").is_none());
}

#[test]
fn malformed_body_is_retried() {
    let server = TestServer::start(vec![
        Reply::new(200, "{\"choices\": [ this is not json"),
        Reply::ok(completion("ok")),
    ]);
    let client = OpenAiClient::new(server.config());
    let response = client
        .chat(&hello(), None)
        .expect("second attempt succeeds");
    assert_eq!(response.message.content, "ok");
    assert_eq!(response.attempts, 2);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn always_malformed_gives_malformed_error() {
    let server = TestServer::start(vec![
        Reply::ok(json!({"choices": []})),
        Reply::ok(json!({"error": "oops"})),
    ]);
    let mut cfg = server.config();
    cfg.max_retries = 1;
    let err = OpenAiClient::new(cfg).chat(&hello(), None).unwrap_err();
    match err {
        ChatError::Malformed { url, message } => {
            assert!(url.ends_with("/v1/chat/completions"), "{url}");
            assert!(message.contains("2 attempt"), "{message}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn server_error_is_retried() {
    let server = TestServer::start(vec![
        Reply::new(500, "{\"error\": \"overloaded\"}"),
        Reply::ok(completion("ok")),
    ]);
    let response = OpenAiClient::new(server.config())
        .chat(&hello(), None)
        .expect("retry succeeds");
    assert_eq!(response.attempts, 2);
    assert_eq!(response.message.content, "ok");
}

#[test]
fn rate_limit_honours_retry_after() {
    let server = TestServer::start(vec![
        Reply::new(429, "{\"error\": \"slow down\"}").header("Retry-After", "0"),
        Reply::ok(completion("ok")),
    ]);
    let mut cfg = server.config();
    // Without honouring `Retry-After: 0` the retry would wait this long.
    cfg.backoff = Duration::from_secs(20);
    let start = Instant::now();
    let response = OpenAiClient::new(cfg)
        .chat(&hello(), None)
        .expect("retry succeeds");
    assert_eq!(response.attempts, 2);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "Retry-After: 0 was not honoured (took {:?})",
        start.elapsed()
    );
}

#[test]
fn rate_limit_waits_as_long_as_retry_after_says() {
    let server = TestServer::start(vec![
        Reply::new(429, "{\"error\": \"slow down\"}").header("Retry-After", "1"),
        Reply::ok(completion("ok")),
    ]);
    let start = Instant::now();
    let response = OpenAiClient::new(server.config())
        .chat(&hello(), None)
        .expect("retry succeeds");
    assert_eq!(response.attempts, 2);
    // the configured back-off is 2 ms; the server asked for a second
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "retried after {:?}, before Retry-After",
        start.elapsed()
    );
}

#[test]
fn dropped_connection_is_retried_and_reported_when_it_persists() {
    let server = TestServer::start(vec![Reply::dropped(), Reply::ok(completion("ok"))]);
    let response = OpenAiClient::new(server.config())
        .chat(&hello(), None)
        .expect("retry succeeds");
    assert_eq!(response.attempts, 2);
    assert_eq!(response.message.content, "ok");

    let server = TestServer::start(vec![Reply::dropped(); 4]);
    let mut cfg = server.config();
    cfg.max_retries = 3;
    let err = OpenAiClient::new(cfg)
        .chat(&hello(), None)
        .unwrap_err()
        .to_string();
    assert_eq!(server.requests().len(), 4, "every attempt made");
    assert!(
        err.contains(&format!("chat request to {}", server.base_url))
            && err.contains("failed after 4 attempt(s)"),
        "{err}"
    );
}

#[test]
fn slow_answer_times_out_and_is_retried() {
    let server = TestServer::start(vec![
        Reply::ok(completion("too late")).delayed(Duration::from_millis(1500)),
        Reply::ok(completion("in time")),
    ]);
    let mut cfg = server.config();
    cfg.timeout = Duration::from_millis(300);
    let response = OpenAiClient::new(cfg)
        .chat(&hello(), None)
        .expect("retry succeeds");
    assert_eq!(response.message.content, "in time");
    assert_eq!(response.attempts, 2);
}

#[test]
fn persistent_server_error_gives_status_after_all_attempts() {
    let server = TestServer::start(vec![Reply::new(500, "{\"error\": \"down\"}"); 3]);
    let mut cfg = server.config();
    cfg.max_retries = 2;
    let err = OpenAiClient::new(cfg).chat(&hello(), None).unwrap_err();
    match err {
        ChatError::Status {
            status,
            attempts,
            body,
            ..
        } => {
            assert_eq!(status, 500);
            assert_eq!(attempts, 3);
            assert!(body.contains("down"), "{body}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn client_error_is_not_retried() {
    let server = TestServer::start(vec![
        Reply::new(400, "{\"error\": \"unknown model\"}"),
        Reply::ok(completion("must not be fetched")),
    ]);
    let err = OpenAiClient::new(server.config())
        .chat(&hello(), None)
        .unwrap_err();
    match err {
        ChatError::Status {
            status, attempts, ..
        } => {
            assert_eq!(status, 400);
            assert_eq!(attempts, 1);
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn dead_port_gives_transport_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut cfg = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "m");
    cfg.max_retries = 1;
    cfg.backoff = Duration::from_millis(1);
    cfg.connect_timeout = Duration::from_secs(2);
    let err = OpenAiClient::new(cfg).chat(&hello(), None).unwrap_err();
    match err {
        ChatError::Transport { url, attempts, .. } => {
            assert_eq!(attempts, 2);
            assert!(url.contains(&port.to_string()), "{url}");
        }
        other => panic!("expected Transport, got {other:?}"),
    }
}

#[test]
fn concurrency_is_limited_per_client() {
    const CALLS: usize = 6;
    let server = TestServer::start(vec![
        Reply::ok(completion("ok"))
            .delayed(Duration::from_millis(100));
        CALLS
    ]);
    let mut cfg = server.config();
    cfg.max_concurrency = 2;
    let client = OpenAiClient::new(cfg);
    let barrier = Arc::new(Barrier::new(CALLS));
    let handles: Vec<_> = (0..CALLS)
        .map(|_| {
            let client = client.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                client.chat(&hello(), None)
            })
        })
        .collect();
    for handle in handles {
        let response = handle.join().expect("no panic").expect("chat succeeds");
        assert_eq!(response.attempts, 1);
    }
    assert_eq!(server.requests().len(), CALLS);
    let peak = server.peak_in_flight.load(Ordering::SeqCst);
    assert!(
        peak <= 2,
        "server saw {peak} concurrent requests, limit is 2"
    );
    assert_eq!(peak, 2, "two requests should have overlapped");
}

/// The only test touching the process environment.
#[test]
fn from_env_names_missing_and_invalid_variables() {
    const VARS: [&str; 6] = [
        "STAR_LLM_BASE_URL",
        "STAR_LLM_MODEL",
        "STAR_LLM_API_KEY",
        "STAR_LLM_TIMEOUT_SECS",
        "STAR_LLM_MAX_RETRIES",
        "STAR_LLM_MAX_CONCURRENCY",
    ];
    for var in VARS {
        std::env::remove_var(var);
    }
    let not_available = |expected: &str| match OpenAiConfig::from_env() {
        Err(ChatError::NotAvailable(msg)) => {
            assert!(msg.contains(expected), "{msg:?} should name {expected}")
        }
        other => panic!("expected NotAvailable naming {expected}, got {other:?}"),
    };

    not_available("STAR_LLM_BASE_URL");
    std::env::set_var("STAR_LLM_BASE_URL", "http://localhost:8000/v1");
    not_available("STAR_LLM_MODEL");
    std::env::set_var("STAR_LLM_MODEL", "qwen2.5-7b-instruct");
    std::env::set_var("STAR_LLM_TIMEOUT_SECS", "two minutes");
    not_available("STAR_LLM_TIMEOUT_SECS");
    std::env::set_var("STAR_LLM_TIMEOUT_SECS", "30");
    std::env::set_var("STAR_LLM_MAX_RETRIES", "5");
    std::env::set_var("STAR_LLM_MAX_CONCURRENCY", "8");
    std::env::set_var("STAR_LLM_API_KEY", "sk-env");

    let cfg = OpenAiConfig::from_env().expect("complete environment");
    assert_eq!(cfg.base_url, "http://localhost:8000/v1");
    assert_eq!(cfg.model, "qwen2.5-7b-instruct");
    assert_eq!(cfg.api_key.as_deref(), Some("sk-env"));
    assert_eq!(cfg.timeout, Duration::from_secs(30));
    assert_eq!(cfg.max_retries, 5);
    assert_eq!(cfg.max_concurrency, 8);

    for var in VARS {
        std::env::remove_var(var);
    }
}

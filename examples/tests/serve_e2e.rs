//! End to end, on loopback: start the reference service on a temporary folder
//! store, serve, ingest a Currents file written with the crate's own writer,
//! kill the service with SIGKILL under load, restart it, and check that no
//! exposure answered before the kill is lost and none is counted twice; then a
//! graceful stop (SIGTERM) and a second restart. Needs `--features serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use dynopt::currents::{Codec, OcfWriter, encode_long, encode_opt_str, encode_str};
use dynopt::pii::{Pseudonymizer, SanitizeOptions, sanitize};
use serde_json::Value;

const TOKEN: &str = "e2e-token";
const SECRET: &[u8] = b"e2e-shared-secret";
/// `SECRET` in hex, as `--key-hex` takes it.
const SECRET_HEX: &str = "6532652d7368617265642d736563726574";

/// `target/<profile>/examples/serve`, built by `cargo test --features serve`;
/// built here only when missing or older than a source (`cargo test --test
/// serve_e2e` builds no examples).
fn serve_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir
        .join("examples")
        .join(format!("serve{}", std::env::consts::EXE_SUFFIX));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [
        root.join("serve"),
        root.join("../src"),
        root.join("Cargo.toml"),
    ]
    .iter()
    .filter_map(|p| newest(p))
    .max();
    if modified(&bin).is_none() || sources > modified(&bin) {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "dynopt-examples",
                "--features",
                "serve",
                "--example",
                "serve",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the serve example");
    }
    bin
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of the files under a directory.
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest(&e.path()))
        .max()
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(store: &Path) -> Server {
        let mut child = Command::new(serve_bin())
            .args(["--listen", "127.0.0.1:0", "--store"])
            .arg(store)
            .args([
                "--token",
                TOKEN,
                "--key-hex",
                SECRET_HEX,
                "--snapshot-secs",
                "0.5",
                "--roll-secs",
                "0.3",
                "--recompute-secs",
                "0.7",
                "--poll-secs",
                "3600",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the bound address");
        let addr = line
            .trim()
            .strip_prefix("serve: listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        Server { child, addr }
    }

    fn sigterm(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("exits");
        assert!(exit.success(), "clean shutdown: {exit}");
    }

    fn sigkill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill(); // std's kill is SIGKILL on Unix
        let _ = self.child.wait();
    }
}

/// A failing test leaves no service running.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_now();
        }
    }
}

/// A keep-alive HTTP/1.1 connection.
struct Http {
    stream: TcpStream,
    addr: SocketAddr,
}

impl Http {
    fn new(addr: SocketAddr) -> std::io::Result<Http> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Http { stream, addr })
    }

    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        self.send(method, path, token, b"")
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            self.stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )?;
        self.stream.write_all(body)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let status = head[9..12].parse().expect("status");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + len {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok((
            status,
            String::from_utf8_lossy(&buf[end..end + len]).into_owned(),
        ))
    }

    fn ok(&mut self, method: &str, path: &str) -> String {
        let (s, body) = self.call(method, path, Some(TOKEN)).expect("answered");
        assert!((200..300).contains(&s), "{method} {path}: {s} {body}");
        body
    }
}

fn report(addr: SocketAddr) -> Value {
    serde_json::from_str(&Http::new(addr).expect("connect").ok("GET", "/v1/report")).expect("JSON")
}

fn exp(r: &Value) -> &Value {
    &r["experiments"]["spring-subject"]
}

fn rk(braze_id: &str) -> String {
    Pseudonymizer::keyed(SECRET)
        .key_for(braze_id)
        .expect("not redacted")
        .to_string()
}

/// A Braze Click file (user ids and emails in it), sanitized by the customer
/// side with the shared secret, at Braze's key layout under `currents/`.
fn write_click_file(store: &Path, braze_ids: &[String]) {
    let schema = r#"{"type":"record","name":"Click","namespace":"dataexport.S3.inner.users.messages.email",
      "fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string","doc":"[PII] Braze user ID"},
      {"name":"time","type":"int"},{"name":"campaign_id","type":["null","string"],"default":null},
      {"name":"email_address","type":"string","doc":"[PII] email"},
      {"name":"url","type":["null","string"],"default":null}]}"#;
    let writer = OcfWriter::new(schema, Codec::Deflate, &[], [7; 16]);
    let (mut file, mut records) = (Vec::new(), Vec::new());
    writer.header(&mut file);
    let now = Utc::now();
    for (i, id) in braze_ids.iter().enumerate() {
        encode_str(&format!("00000000-0000-4000-8000-{i:012}"), &mut records);
        encode_str(id, &mut records);
        encode_long(now.timestamp(), &mut records);
        encode_opt_str(Some("cmp-1"), &mut records);
        encode_str("someone@example.com", &mut records);
        encode_opt_str(
            Some("https://shop.example.com/spring?utm_source=braze"),
            &mut records,
        );
    }
    writer.write_block(braze_ids.len() as u64, &records, &mut file);
    let clean = sanitize(
        &file,
        &SanitizeOptions::new().with_pseudonymizer(Pseudonymizer::keyed(SECRET)),
    )
    .expect("sanitizes");
    let integ = "dataexport.prod-03.S3.integration.65f0c2d1a9b3e4001234abcd";
    let dir = store.join(format!(
        "currents/{integ}/event_type=users.messages.email.Click/date={}-{:02}/332/0",
        now.format("%Y-%m-%d"),
        now.hour()
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(format!("{integ}+0+0.avro")), &clean.bytes).expect("write");
}

/// A Custom HTTP Currents body: one Click per Braze id (personal fields in
/// it, as Braze sends them) and a push event the crate does not decode.
fn click_batch(braze_ids: &[String]) -> String {
    let now = Utc::now().timestamp();
    let mut events: Vec<Value> = braze_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({
                "event_type": "users.messages.email.Click",
                "id": format!("11111111-0000-4000-8000-{i:012}"),
                "time": now,
                "properties": {
                    "campaign_id": "cmp-1",
                    "email_address": "someone@example.com",
                    "url": "https://shop.example.com/spring?utm_source=braze",
                    "is_suspected_bot_click": false
                },
                "user": {"user_id": id, "external_user_id": "crm-1", "timezone": "Europe/London"}
            })
        })
        .collect();
    events.push(serde_json::json!({
        "event_type": "users.messages.pushnotification.Send", "id": "p1", "time": now
    }));
    serde_json::json!({ "events": events }).to_string()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct TempStore(PathBuf);

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn serve_ingest_sigkill_restart_exactly_once() {
    let store =
        TempStore(std::env::temp_dir().join(format!("dynopt-serve-e2e-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&store.0);
    std::fs::create_dir_all(&store.0).expect("temp store");

    let server = Server::start(&store.0);
    let addr = server.addr;
    let mut http = Http::new(addr).expect("connect");

    // Authentication on every endpoint.
    for (m, p) in [
        ("GET", "/v1/assign?exp=spring-subject&rk=00"),
        ("GET", "/v1/report"),
        ("POST", "/v1/currents"),
    ] {
        assert_eq!(
            http.call(m, p, None).expect("answered").0,
            401,
            "{m} {p} without token"
        );
        assert_eq!(http.call(m, p, Some("wrong")).expect("answered").0, 401);
    }
    assert_eq!(
        http.send("POST", "/v1/currents", Some(TOKEN), b"{\"events\": [")
            .expect("answered")
            .0,
        400,
        "a body that is not a batch"
    );
    assert_eq!(
        http.call(
            "GET",
            "/v1/assign?exp=nope&rk=00112233445566778899aabbccddeeff",
            Some(TOKEN)
        )
        .expect("answered")
        .0,
        404
    );

    // Serve ten recipients, then a Currents file with clicks of five of them.
    let ids: Vec<String> = (0..10)
        .map(|i| format!("5f1a2b3c4d5e6f7a8b9c{i:04}"))
        .collect();
    for id in &ids {
        let body = http.ok(
            "GET",
            &format!("/v1/assign?exp=spring-subject&rk={}", rk(id)),
        );
        let v: Value = serde_json::from_str(&body).expect("JSON");
        assert!(
            v["variant"].as_u64().is_some()
                && v["tag"].as_str().is_some()
                && v["label"].as_str().is_some(),
            "{body}"
        );
    }
    write_click_file(&store.0, &ids[..5]);
    http.ok("POST", "/v1/admin/poll");
    wait_for("the Currents file", || {
        exp(&report(addr))["clicks"]["attributed"] == 5
    });
    // Three more clicks through Braze's Custom HTTP connector (and an event
    // type the crate does not decode); then the same batch redelivered.
    let batch = click_batch(&ids[5..8]);
    let (status, body) = http
        .send("POST", "/v1/currents", Some(TOKEN), batch.as_bytes())
        .expect("answered");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (v["events"].as_u64(), v["unknown_event_types"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(exp(&report(addr))["clicks"]["attributed"], 8);
    let (status, _) = http
        .send("POST", "/v1/currents", Some(TOKEN), batch.as_bytes())
        .expect("answered");
    assert_eq!(status, 200);
    let r = report(addr);
    assert_eq!(
        exp(&r)["clicks"]["attributed"],
        8,
        "a redelivered batch counts once"
    );
    assert_eq!(exp(&r)["clicks"]["duplicate"], 3);

    // Load from 4 connections, each recipient new; SIGKILL after 1.5 s.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let Ok(mut conn) = Http::new(addr) else {
                    return acked;
                };
                for i in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("{c:016x}{i:016x}");
                    sent.fetch_add(1, Ordering::Relaxed);
                    match conn.call(
                        "GET",
                        &format!("/v1/assign?exp=spring-subject&rk={key}"),
                        Some(TOKEN),
                    ) {
                        Ok((200, body)) => {
                            let v: Value = serde_json::from_str(&body).expect("JSON");
                            acked.push((key, v["variant"].as_u64().expect("variant")));
                        }
                        Ok((s, body)) => panic!("answered {s}: {body}"),
                        Err(_) => break, // killed
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.sigkill();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, u64)> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let sent = sent.load(Ordering::Relaxed) + ids.len() as u64;
    let acked_total = acked.len() as u64 + ids.len() as u64;
    assert!(acked.len() > 100, "the load ran ({} answered)", acked.len());

    // Restart: the snapshot plus the journal replayed once.
    let server = Server::start(&store.0);
    let addr = server.addr;
    wait_for("the Currents file after the restart", || {
        exp(&report(addr))["clicks"]["attributed"] == 8
    });
    let r = report(addr);
    let e0 = exp(&r)["exposures"].as_u64().expect("exposures");
    let rep0 = exp(&r)["repeat_exposures"].as_u64().expect("repeats");
    eprintln!("sent {sent}, answered {acked_total}, counted after restart {e0}, repeats {rep0}");
    assert_eq!(rep0, 0, "no journal record applied twice");
    assert!(
        e0 >= acked_total,
        "lost: {acked_total} answered, {e0} counted"
    );
    assert!(e0 <= sent, "{e0} counted, only {sent} sent");
    assert_eq!(
        exp(&r)["clicks"]["attributed"],
        8,
        "the Currents file and the batch counted once"
    );
    assert_eq!(exp(&r)["clicks"]["duplicate"], 3);
    for v in exp(&r)["variants"].as_array().expect("variants") {
        let id = v["variant"].as_u64().expect("id");
        let answered = acked.iter().filter(|(_, a)| *a == id).count() as u64;
        assert!(
            v["exposures"].as_u64().expect("n") >= answered,
            "variant {id}"
        );
    }

    // Every answered recipient is known: serving them again adds repeats only.
    let mut http = Http::new(addr).expect("connect");
    for (key, _) in &acked {
        http.ok("GET", &format!("/v1/assign?exp=spring-subject&rk={key}"));
    }
    for id in &ids {
        http.ok(
            "GET",
            &format!("/v1/assign?exp=spring-subject&rk={}", rk(id)),
        );
    }
    let r = report(addr);
    assert_eq!(
        exp(&r)["exposures"].as_u64(),
        Some(e0),
        "an answered exposure was lost"
    );
    assert_eq!(exp(&r)["repeat_exposures"].as_u64(), Some(acked_total));

    // Graceful stop, restart: everything durable, nothing counted again.
    server.sigterm();
    let server = Server::start(&store.0);
    let r = report(server.addr);
    assert_eq!(exp(&r)["exposures"].as_u64(), Some(e0));
    assert_eq!(exp(&r)["repeat_exposures"].as_u64(), Some(acked_total));
    assert_eq!(exp(&r)["clicks"]["attributed"], 8);
    assert_eq!(exp(&r)["clicks"]["duplicate"], 3);
    server.sigterm();
}

//! `serve-load` (`--help` for the details): a bounded load run against the
//! reference service on loopback. Plain HTTP/1.1 keep-alive over TCP, no HTTP
//! client library. Built only with `--features serve`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str =
    "usage: serve-load [--addr ADDR] [--token TOKEN] [--seconds N] [--connections N] [--exp ID]";

const HELP: &str = "\
serve-load: a bounded load run against the reference service (loopback only)

usage: serve-load [--addr ADDR] [--token TOKEN] [--seconds N] [--connections N]
                  [--exp ID]

Runs three phases against a running `serve`, each for --seconds, and prints
requests/s and p50/p99/max latency of each:
  assign-only         GET /v1/assign?...&preview=1 (no exposure recorded)
  serve+exposure      GET /v1/assign, each request a new recipient (journaled)
  serve+snapshot      as serve+exposure, while snapshots are taken back to back
                      (POST /v1/admin/snapshot) and the allocation is
                      recomputed and republished every 100 ms
The whole run is capped at 60 seconds; the address must be a loopback one.

options:
  --addr ADDR        the service [127.0.0.1:8080]
  --token TOKEN      the bearer token [env DYNOPT_SERVE_TOKEN]
  --seconds N        seconds per phase, at most 20 [15]
  --connections N    concurrent keep-alive connections [32]
  --exp ID           the experiment [spring-subject]
  -h, --help         print this help

exit status: 0 after the run, 1 when the service cannot be reached or answers
errors, 2 on bad arguments.
";

struct Args {
    addr: SocketAddr,
    token: String,
    seconds: u64,
    connections: usize,
    exp: String,
}

fn parse_args() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        token: std::env::var("DYNOPT_SERVE_TOKEN").unwrap_or_default(),
        seconds: 15,
        connections: 32,
        exp: "spring-subject".into(),
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let value = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value()
                .map_err(|e| e.to_string())?
                .string()
                .map_err(|e| e.to_string())
        };
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("addr") => a.addr = value(&mut p)?.parse().map_err(|e| format!("--addr: {e}"))?,
            Long("token") => a.token = value(&mut p)?,
            Long("seconds") => {
                a.seconds = value(&mut p)?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?;
            }
            Long("connections") => {
                a.connections = value(&mut p)?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?;
            }
            Long("exp") => a.exp = value(&mut p)?,
            other => return Err(other.unexpected().to_string()),
        }
    }
    if !a.addr.ip().is_loopback() {
        return Err("--addr must be a loopback address".into());
    }
    if !(1..=20).contains(&a.seconds) {
        return Err("--seconds is 1 to 20".into());
    }
    if !(1..=1024).contains(&a.connections) {
        return Err("--connections is 1 to 1024".into());
    }
    if a.token.is_empty() {
        return Err("a bearer token is required: --token or DYNOPT_SERVE_TOKEN".into());
    }
    Ok(Some(a))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Some(a)) => a,
        Err(msg) => {
            eprintln!("serve-load: {msg}\n{USAGE}\n(serve-load --help for more)");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve-load: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve-load: {e}");
            ExitCode::from(1)
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads the answer: (status, body).
    async fn request(&mut self, req: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(req).await?;
        self.buf.clear();
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
        let header_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(bad("connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..header_end]).map_err(|_| bad("header"))?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status"))?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while self.buf.len() < header_end + len {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(bad("connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok((status, self.buf[header_end..header_end + len].to_vec()))
    }
}

fn get(addr: SocketAddr, token: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n")
        .into_bytes()
}

fn post(addr: SocketAddr, token: &str, path: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    AssignOnly,
    Serve,
    ServeDuringSnapshots,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::AssignOnly => "assign-only",
            Phase::Serve => "serve+exposure",
            Phase::ServeDuringSnapshots => "serve+snapshot",
        }
    }
}

/// Recipient keys never repeat within a run (a counter under a per-run prefix).
static NEXT_RECIPIENT: AtomicU64 = AtomicU64::new(0);

async fn client(
    a: Arc<Args>,
    phase: Phase,
    deadline: Instant,
    run_id: u32,
) -> std::io::Result<(Vec<u32>, u64)> {
    let mut conn = Conn::open(a.addr).await?;
    let mut lat = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    let preview = if phase == Phase::AssignOnly {
        "&preview=1"
    } else {
        ""
    };
    while Instant::now() < deadline {
        let n = NEXT_RECIPIENT.fetch_add(1, Ordering::Relaxed);
        let path = format!("/v1/assign?exp={}&rk={run_id:08x}{n:024x}{preview}", a.exp);
        let req = get(a.addr, &a.token, &path);
        let t = Instant::now();
        let (status, _) = conn.request(&req).await?;
        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        if status != 200 {
            errors += 1;
        }
    }
    Ok((lat, errors))
}

/// Takes snapshots back to back and republishes every 100 ms until the deadline.
async fn publisher(a: Arc<Args>, deadline: Instant) -> std::io::Result<(u64, u64)> {
    let mut snaps = Conn::open(a.addr).await?;
    let mut recomp = Conn::open(a.addr).await?;
    let snap_req = post(a.addr, &a.token, "/v1/admin/snapshot");
    let recomp_req = post(a.addr, &a.token, "/v1/admin/recompute");
    let recompute = async {
        let mut n = 0u64;
        while Instant::now() < deadline {
            recomp.request(&recomp_req).await?;
            n += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<u64, std::io::Error>(n)
    };
    let snapshot = async {
        let mut n = 0u64;
        while Instant::now() < deadline {
            snaps.request(&snap_req).await?;
            n += 1;
        }
        Ok::<u64, std::io::Error>(n)
    };
    let (r, s) = tokio::join!(recompute, snapshot);
    Ok((s?, r?))
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

async fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let a = Arc::new(a);
    let started = Instant::now();
    let run_id = u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            & 0xffff_ffff,
    )?;
    // Warm-up and check: one request with and one without the token.
    let mut c = Conn::open(a.addr).await?;
    let (s, _) = c.request(&get(a.addr, &a.token, "/healthz")).await?;
    if s != 200 {
        return Err(format!("GET /healthz answered {s}").into());
    }
    println!(
        "serve-load: {} connections, {} s per phase, {}",
        a.connections, a.seconds, a.addr
    );
    let mut failed = false;
    for phase in [Phase::AssignOnly, Phase::Serve, Phase::ServeDuringSnapshots] {
        if started.elapsed() > Duration::from_secs(60 - a.seconds) {
            println!("{:<16} skipped: the run is capped at 60 s", phase.name());
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(a.seconds);
        let t0 = Instant::now();
        let pub_task = (phase == Phase::ServeDuringSnapshots)
            .then(|| tokio::spawn(publisher(a.clone(), deadline)));
        let tasks: Vec<_> = (0..a.connections)
            .map(|_| tokio::spawn(client(a.clone(), phase, deadline, run_id)))
            .collect();
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await??;
            lat.extend(l);
            errors += e;
        }
        let wall = t0.elapsed().as_secs_f64();
        lat.sort_unstable();
        let extra = match pub_task {
            Some(t) => {
                let (snaps, recomputes) = t.await??;
                format!(" | {snaps} snapshots, {recomputes} republications during the phase")
            }
            None => String::new(),
        };
        println!(
            "{:<16} {:>8} requests {:>9.0} req/s | p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms | non-200 {}{}",
            phase.name(),
            lat.len(),
            lat.len() as f64 / wall,
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            f64::from(lat.last().copied().unwrap_or(0)) / 1000.0,
            errors,
            extra
        );
        failed |= errors > 0;
    }
    let (s, body) = c.request(&get(a.addr, &a.token, "/v1/report")).await?;
    if s == 200 {
        println!("report: {}", String::from_utf8_lossy(&body));
    }
    if failed {
        return Err("some requests were not answered 200".into());
    }
    Ok(())
}

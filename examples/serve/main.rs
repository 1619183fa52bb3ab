//! `serve` (`--help` for the details): the reference service around dynopt.
//!
//! A Connected Content endpoint that answers from memory, an exposure journal
//! that makes every answered exposure durable before the answer goes out, a
//! Currents worker reading Braze's files from an object store (a local folder
//! or S3), a learner thread that recomputes and publishes the allocation, and
//! snapshots plus journal segments in the same store. Built only with
//! `--features serve`.

mod config;
mod engine;
mod http;
mod journal;
mod learner;
mod store;
mod uploader;
mod worker;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use dynopt::host::{ExperimentDef, Sequencer, decode_segment};
use dynopt::pii::{CleanEvent, Filter, Policy, Pseudonymizer};

use crate::engine::{Engine, LEARNER_REPLICA, retention};
use crate::journal::{parse_segment_key, recover_spool, segment_key};
use crate::store::{Store, parse_http_batch_key, parse_snapshot_key, snapshot_key};

const USAGE: &str = "usage: serve [--listen ADDR] [--store DIR|s3://BUCKET/PREFIX] [--token TOKEN] [--experiments FILE] [options]";

const HELP: &str = "\
serve: the reference dynopt service (Connected Content + Currents worker)

usage: serve [--listen ADDR] [--store DIR|s3://BUCKET/PREFIX] [--token TOKEN]
             [--experiments FILE] [options]

Endpoints (every one wants `Authorization: Bearer TOKEN`, else 401):
  GET  /v1/assign?exp=EXPERIMENT&rk=RECIPIENT_KEY_HEX[&preview=1]
       {\"variant\":1,\"label\":\"...\",\"tag\":\"1.1764320100\"}; the exposure is
       journaled before the answer (preview=1: not recorded). 503 when the
       journal cannot take it, 404 for an unknown experiment.
  POST /v1/currents          Braze Custom HTTP Currents batches ({\"events\":[...]});
                             decoded by the library, the clean events stored in
                             state/http/ before the 2xx, then applied
  GET  /v1/report            exposures, clicks and allocation per experiment
  POST /v1/admin/snapshot    take a snapshot now
  POST /v1/admin/recompute   recompute and publish the allocation now
  POST /v1/admin/poll        list the Currents prefix now
  GET  /healthz

The store holds Braze's Currents files under --currents-prefix (listed
recursively, Braze's key layout), and the service's own state under state/:
state/snapshot-<seq>.bin (the library's binary state) and
state/journal/<replica>/<first sequence number>.log (its journal records).
Exposures are appended to a local spool segment first (group commit), then the
sealed segment is uploaded. SIGTERM or ctrl-c: stop accepting, journal sealed
and uploaded, a last snapshot, exit 0. On start: the spool's leftovers are
uploaded, the newest snapshot restored and every journal record after it
replayed once.

options:
  --listen ADDR          address to listen on [127.0.0.1:8080]; port 0 picks
                         one; the bound address is printed on stdout
  --store DIR|URL        a local folder (created) or s3://bucket/prefix with the
                         usual AWS_* environment variables [./data]
  --token TOKEN          the bearer token [env DYNOPT_SERVE_TOKEN]; required
  --experiments FILE     experiments as JSON (see examples/serve/config.rs)
                         [the demo experiment `spring-subject`, campaign cmp-1]
  --currents-prefix P    where Braze's Currents files are [currents]
  --replica N            this replica's journal id [0]
  --spool DIR            local journal spool [<store>/.spool/<replica> for a
                         folder store, ./dynopt-spool/<replica> for S3]
  --fsync                fdatasync each journal batch (survives power loss, not
                         only a crash of the process; slower answers)
  --poll-secs N          Currents listing interval [30]
  --recompute-secs N     allocation recompute interval [300]
  --snapshot-secs N      snapshot interval [60]
  --roll-secs N          journal segment age before upload [60]
  --key-hex HEX          the shared secret's bytes in hex [env DYNOPT_SERVE_KEY_HEX]:
                         Custom HTTP events get the recipient key of their
                         user_id (as `sanitize --key-hex` does for files)
  --seed-exposures N     load runs only: N synthetic exposures in memory at start
  -h, --help             print this help

examples:
  DYNOPT_SERVE_TOKEN=dev-token serve --store ./data
  serve --listen 127.0.0.1:0 --store s3://my-bucket/braze --token \"$TOKEN\"

exit status: 0 after a clean shutdown, 1 when the service cannot start, 2 on
bad arguments.
";

struct Args {
    listen: SocketAddr,
    store: String,
    token: String,
    experiments: Option<PathBuf>,
    currents_prefix: String,
    replica: u32,
    spool: Option<PathBuf>,
    fsync: bool,
    poll: Duration,
    recompute: Duration,
    snapshot: Duration,
    roll: Duration,
    seed_exposures: u64,
    key_hex: Option<String>,
}

enum Cli {
    Help,
    Run(Box<Args>),
}

fn parse_args() -> Result<Cli, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        store: "./data".into(),
        token: std::env::var("DYNOPT_SERVE_TOKEN").unwrap_or_default(),
        experiments: None,
        currents_prefix: "currents".into(),
        replica: 0,
        spool: None,
        fsync: false,
        poll: Duration::from_secs(30),
        recompute: Duration::from_secs(300),
        snapshot: Duration::from_secs(60),
        roll: Duration::from_secs(60),
        seed_exposures: 0,
        key_hex: std::env::var("DYNOPT_SERVE_KEY_HEX").ok(),
    };
    let secs = |p: &mut lexopt::Parser| -> Result<Duration, String> {
        let n: f64 = p
            .value()
            .map_err(|e| e.to_string())?
            .parse()
            .map_err(|e: lexopt::Error| e.to_string())?;
        if n.is_finite() && n > 0.0 {
            Ok(Duration::from_secs_f64(n))
        } else {
            Err("intervals are positive seconds".into())
        }
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let value = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value()
                .map_err(|e| e.to_string())?
                .string()
                .map_err(|e| e.to_string())
        };
        match arg {
            Short('h') | Long("help") => return Ok(Cli::Help),
            Long("listen") => {
                a.listen = value(&mut p)?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?;
            }
            Long("store") => a.store = value(&mut p)?,
            Long("token") => a.token = value(&mut p)?,
            Long("experiments") => a.experiments = Some(value(&mut p)?.into()),
            Long("currents-prefix") => a.currents_prefix = value(&mut p)?,
            Long("replica") => {
                a.replica = value(&mut p)?
                    .parse()
                    .ok()
                    .filter(|&r| r != LEARNER_REPLICA)
                    .ok_or("--replica is a number below 4294967295")?;
            }
            Long("spool") => a.spool = Some(value(&mut p)?.into()),
            Long("fsync") => a.fsync = true,
            Long("poll-secs") => a.poll = secs(&mut p)?,
            Long("recompute-secs") => a.recompute = secs(&mut p)?,
            Long("snapshot-secs") => a.snapshot = secs(&mut p)?,
            Long("roll-secs") => a.roll = secs(&mut p)?,
            Long("key-hex") => a.key_hex = Some(value(&mut p)?),
            Long("seed-exposures") => {
                a.seed_exposures = value(&mut p)?
                    .parse()
                    .map_err(|e| format!("--seed-exposures: {e}"))?;
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if a.token.is_empty() {
        return Err("a bearer token is required: --token or DYNOPT_SERVE_TOKEN".into());
    }
    Ok(Cli::Run(Box::new(a)))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Cli::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Run(a)) => a,
        Err(msg) => {
            eprintln!("serve: {msg}\n{USAGE}\n(serve --help for more)");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(*args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::from(1)
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What start-up restored.
struct Restored {
    engine: Engine,
    seq: u64,
    replayed: u64,
    /// The last journal sequence number of this replica in the store.
    last_seq: u64,
    /// The number of this replica's next Custom HTTP batch.
    next_http_batch: u64,
}

/// The spool's leftovers uploaded, the newest snapshot restored and the
/// journal replayed after it, each entry once.
async fn restore(
    store: &Store,
    spool: &std::path::Path,
    replica: u32,
    defs: &[ExperimentDef],
) -> Result<Restored, Error> {
    for (first, bytes, path) in recover_spool(spool)? {
        if !bytes.is_empty() {
            store
                .put(&segment_key(replica, first), bytes.into())
                .await?;
        }
        std::fs::remove_file(&path)?;
    }
    let state_keys = store.list("state").await?;
    let newest = state_keys
        .iter()
        .filter_map(|k| parse_snapshot_key(k))
        .max();
    let (mut engine, seq) = match newest {
        Some(seq) => {
            let bytes = store.get(&snapshot_key(seq)).await?;
            let e =
                Engine::restore(&bytes, defs).map_err(|e| format!("{}: {e}", snapshot_key(seq)))?;
            (e, seq)
        }
        None => (Engine::new(defs)?, 0),
    };
    let mut segments: Vec<(u32, u64, String)> = state_keys
        .iter()
        .filter_map(|k| parse_segment_key(k).map(|(r, f)| (r, f, k.clone())))
        .collect();
    segments.sort();
    let mut replayed = 0;
    let mut last_seq = engine.applied(replica);
    for (i, (r, _, key)) in segments.iter().enumerate() {
        // Wholly applied when the next segment of the replica starts within what was applied.
        let next_first = segments.get(i + 1).filter(|n| n.0 == *r).map(|n| n.1);
        if next_first.is_some_and(|n| n <= engine.applied(*r).saturating_add(1)) {
            continue;
        }
        let segment = decode_segment(&store.get(key).await?);
        if segment.torn_tail {
            eprintln!("serve: {key}: a torn or corrupt tail ignored");
        }
        if *r == replica
            && let Some(e) = segment.entries.last()
        {
            last_seq = last_seq.max(e.seq);
        }
        replayed += engine.replay(&segment);
    }
    // Stored Custom HTTP batches the snapshot had not applied.
    let mut batches: Vec<(u32, u64, &String)> = state_keys
        .iter()
        .filter_map(|k| parse_http_batch_key(k).map(|(r, b)| (r, b, k)))
        .collect();
    batches.sort();
    let mut next_http_batch = 1;
    let now = Utc::now();
    for (r, b, key) in batches {
        if r == replica {
            next_http_batch = next_http_batch.max(b + 1);
        }
        if engine
            .http_applied()
            .iter()
            .any(|&(ar, ab)| ar == r && b <= ab)
        {
            continue;
        }
        let events: Vec<CleanEvent> =
            serde_json::from_slice(&store.get(key).await?).map_err(|e| format!("{key}: {e}"))?;
        engine.ingest_http(r, b, &events, now);
    }
    if let Some(&(_, b)) = engine.http_applied().iter().find(|(r, _)| *r == replica) {
        next_http_batch = next_http_batch.max(b + 1);
    }
    Ok(Restored {
        engine,
        seq,
        replayed,
        last_seq,
        next_http_batch,
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn run(a: Args) -> Result<(), Error> {
    let defs = match &a.experiments {
        Some(path) => {
            config::parse(&std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => config::demo(),
    };
    let mut filter = Filter::new(Policy::new());
    if let Some(hex) = &a.key_hex {
        filter = filter.with_pseudonymizer(
            Pseudonymizer::keyed_hex(hex).map_err(|e| format!("--key-hex: {e}"))?,
        );
    }
    let store = Store::open(&a.store)?;
    let spool = match (&a.spool, &store.local_root) {
        (Some(s), _) => s.clone(),
        (None, Some(root)) => root.join(".spool").join(a.replica.to_string()),
        (None, None) => PathBuf::from("dynopt-spool").join(a.replica.to_string()),
    };
    let started = std::time::Instant::now();
    let Restored {
        mut engine,
        seq,
        replayed,
        last_seq,
        next_http_batch,
    } = restore(&store, &spool, a.replica, &defs).await?;
    eprintln!(
        "serve: restored snapshot {seq} and {replayed} journal records in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    if a.seed_exposures > 0 {
        engine.seed_synthetic(a.seed_exposures, Utc::now());
        eprintln!("serve: {} synthetic exposures seeded", a.seed_exposures);
    }
    let seen: HashSet<String> = engine.processed_keys().map(|k| k.path.clone()).collect();
    let published = Arc::new(RwLock::new(engine.publish()));

    let (uploads_tx, uploads_rx) = mpsc::unbounded_channel();
    let uploader = tokio::spawn(uploader::run(store.clone(), uploads_rx));
    let (learner_tx, learner_rx) = std::sync::mpsc::channel();
    let learner = learner::spawn(
        engine,
        learner::LearnerConfig {
            recompute_every: a.recompute,
            snapshot_every: a.snapshot,
            published: published.clone(),
            uploads: uploads_tx.clone(),
            restored_seq: seq,
        },
        learner_rx,
    )?;
    let (journal_tx, journal_rx) = mpsc::channel(65_536);
    let journal = journal::spawn_writer(
        journal::WriterConfig {
            spool,
            sequencer: Sequencer::new(a.replica, last_seq),
            fsync: a.fsync,
            roll_bytes: 8 << 20,
            roll_age: a.roll,
        },
        journal_rx,
        learner_tx.clone(),
        uploads_tx.clone(),
    )?;
    let poke = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(worker::run(
        store.clone(),
        worker::WorkerConfig {
            prefix: a.currents_prefix.clone(),
            every: a.poll,
            seen,
            retention: retention(&defs),
            poke: poke.clone(),
        },
        learner_tx.clone(),
        stop_rx,
    ));

    let app = http::router(
        http::AppState {
            published,
            journal: journal_tx.clone(),
            learner: learner_tx.clone(),
            poke_worker: poke,
            http: Arc::new(http::HttpIngest {
                store: store.clone(),
                replica: a.replica,
                next_batch: tokio::sync::Mutex::new(next_http_batch),
                filter,
            }),
        },
        Arc::from(a.token.as_bytes()),
    );
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    // The bound address on stdout, for scripts and tests (port 0).
    println!("serve: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    eprintln!("serve: shutting down: sealing the journal");
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let (tx, rx) = oneshot::channel();
    if journal_tx
        .send(journal::JournalMsg::Close(tx))
        .await
        .is_ok()
    {
        let _ = rx.await;
    }
    let _ = journal.join();
    let (tx, rx) = oneshot::channel();
    if learner_tx.send(learner::LearnerMsg::Shutdown(tx)).is_ok() {
        let _ = rx.await;
    }
    let _ = learner.join();
    let (tx, rx) = oneshot::channel();
    let _ = uploads_tx.send(uploader::Upload::Flush(tx));
    let _ = rx.await;
    drop(uploads_tx);
    let _ = uploader.await;
    eprintln!("serve: stopped; every accepted exposure is in the store");
    Ok(())
}

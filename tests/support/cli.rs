//! Shared by the tests that run example programs as subprocesses: locating
//! (and, when a single test file runs alone, building) an example binary, and
//! a temporary directory removed on drop.

#![allow(
    dead_code,
    reason = "each test binary includes this file and uses a part of it"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// `target/<profile>/examples/<name>`, next to the test executable's `deps`
/// directory: the binary `cargo test` built with the rest of the workspace (the dev
/// and test profiles share their settings, so it is the same build). Only when it
/// is missing or older than a source file (for example under
/// `cargo test --test x`, which builds no examples) is cargo asked to build it.
pub(crate) fn example_bin(name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("a test binary knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = modified(&bin);
    let sources = ["src", "examples", "Cargo.toml", "Cargo.lock"]
        .iter()
        .filter_map(|p| newest(&root.join(p)))
        .max();
    if built.is_none() || sources > built {
        let status = Command::new(env!("CARGO"))
            // No `-p`: with the workspace's default members selected, as under
            // `cargo test`, the build reuses the test run's artifacts exactly.
            .args(["build", "--quiet", "--example", name])
            .current_dir(root)
            .status()
            .expect("cargo, which runs this test, can be run again");
        assert!(status.success(), "building the {name} example failed");
    }
    assert!(bin.exists(), "{} exists", bin.display());
    bin
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of the files under a directory.
fn newest(path: &Path) -> Option<SystemTime> {
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

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// Creates (or empties) `dynopt-<tag>-<pid>`.
    pub(crate) fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("dynopt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Writes `bytes` to `name` inside the directory.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write temp file");
        p
    }
}

impl TempDir {
    /// The names of the files in the directory, sorted.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

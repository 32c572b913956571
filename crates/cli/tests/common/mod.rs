//! What the command-line tests share: running the built `starling` binary with a bound on how
//! long it may take, and reading its output.

#![allow(dead_code, unreachable_pub)] // each test file uses its own part

use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_starling");

/// `starling <args>` with piped output, killed if the test drops it.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Waits for `child`, at most 20 s.
pub async fn finish(child: Child) -> Output {
    match tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        other => panic!("the command did not finish: {other:?}"),
    }
}

/// Standard output of a command that must have succeeded.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

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

/// Spawns `starling sub` (`command` must include `-d`) and returns once it has printed
/// `subscribed to <filter> (granted QoS n)` on stderr for `filters` filters: the SUBACK came, so
/// the broker delivers whatever is published from then on. Panics (killing the child) if the
/// lines do not come within 10 s or the child's stderr ends first.
///
/// The rest of the child's stderr is copied to the test's stderr as it comes, so that it shows
/// when the test fails (and the pipe never fills).
pub async fn spawn_subscribed(mut command: Command, filters: usize) -> Child {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let mut child = command.spawn().expect("spawn sub");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut seen = String::new();
    let mut subscribed = 0;
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while subscribed < filters {
            let mut line = String::new();
            match lines.read_line(&mut line).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
            if line.starts_with("subscribed to ") {
                subscribed += 1;
            }
            seen.push_str(&line);
        }
        true
    })
    .await;
    if ready != Ok(true) {
        let _ = child.start_kill();
        let mut rest = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), lines.read_to_string(&mut rest)).await;
        panic!(
            "sub did not report {filters} subscription(s) ({}): stderr: {seen}{rest}",
            match ready {
                Ok(_) => "its stderr ended",
                Err(_) => "not within 10 s",
            }
        );
    }
    tokio::spawn(async move {
        let mut line = String::new();
        while matches!(lines.read_line(&mut line).await, Ok(n) if n > 0) {
            eprint!("starling sub: {line}");
            line.clear();
        }
    });
    child
}

//! `starling passwd`, the built binary, against files it writes, files Mosquitto's
//! `mosquitto_passwd` writes, and `starling-auth`'s reader.

use starling_auth::password_file::PasswordFile;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_starling");
const MOSQUITTO_PASSWD: &str = "/usr/bin/mosquitto_passwd";

/// A temporary directory with a `passwd` file path in it.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("passwd")
    }

    fn file_str(&self) -> String {
        self.file().to_str().expect("a UTF-8 path").to_owned()
    }

    fn read(&self) -> String {
        std::fs::read_to_string(self.file()).expect("the password file")
    }

    fn write(&self, text: &str) {
        std::fs::write(self.file(), text).expect("write the password file");
    }

    fn lines(&self) -> Vec<String> {
        self.read().lines().map(str::to_owned).collect()
    }

    fn verify(&self, username: &str, password: &str) -> Option<bool> {
        load(&self.file()).verify(username, password.as_bytes())
    }
}

fn load(path: &Path) -> PasswordFile {
    PasswordFile::load(path).expect("starling-auth loads the file")
}

/// Runs `starling passwd <args>` with `stdin` (or none) as standard input, and checks that
/// nothing it printed holds one of `secrets` or a hash.
fn passwd(args: &[&str], stdin: Option<&str>, secrets: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .arg("passwd")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn starling");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("starling finishes");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in secrets.iter().chain(&["$7$", "$6$"]) {
        assert!(!printed.contains(secret), "printed {secret:?}: {printed}");
    }
    output
}

/// `starling passwd <args>` must succeed silently.
fn ok(args: &[&str], secrets: &[&str]) {
    let output = passwd(args, None, secrets);
    assert!(
        output.status.success(),
        "{args:?}: {:?}, {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty());
}

/// `starling passwd <args>` must fail; returns its standard error.
fn fails(args: &[&str], stdin: Option<&str>, secrets: &[&str]) -> String {
    let output = passwd(args, stdin, secrets);
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn create_with_c_b() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(
        &["-c", "-b", &file, "alice", "correct horse"],
        &["correct horse"],
    );
    let lines = dir.lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("alice:$7$101$"), "{lines:?}");
    assert_eq!(dir.verify("alice", "correct horse"), Some(true));
    assert_eq!(dir.verify("alice", "wrong"), Some(false));
    assert_eq!(dir.verify("bob", "correct horse"), None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.file())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // -c overwrites.
    ok(&["-c", "-b", &file, "bob", "b"], &[]);
    assert_eq!(dir.verify("alice", "correct horse"), None);
    assert_eq!(dir.verify("bob", "b"), Some(true));
    // No temporary file is left behind.
    let entries = std::fs::read_dir(dir.dir.path()).expect("list").count();
    assert_eq!(entries, 1);
}

#[test]
fn add_update_and_delete_keep_the_other_lines_in_order() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(&["-c", "-b", &file, "alice", "a1"], &["a1"]);
    ok(&["-b", &file, "bob", "b1"], &["b1"]);
    ok(
        &["-b", &file, "carol", "-starts-with-a-dash"],
        &["-starts-with-a-dash"],
    );
    let before = dir.lines();
    assert_eq!(before.len(), 3);

    ok(&["-b", &file, "bob", "b2"], &["b2"]);
    let after = dir.lines();
    assert_eq!(after.len(), 3);
    assert_eq!(after[0], before[0], "alice unchanged");
    assert!(after[1].starts_with("bob:") && after[1] != before[1]);
    assert_eq!(after[2], before[2], "carol unchanged");
    assert_eq!(dir.verify("bob", "b2"), Some(true));
    assert_eq!(dir.verify("bob", "b1"), Some(false));
    assert_eq!(dir.verify("carol", "-starts-with-a-dash"), Some(true));

    ok(&["-D", &file, "bob"], &[]);
    assert_eq!(dir.lines(), [before[0].clone(), before[2].clone()]);
    assert_eq!(dir.verify("bob", "b2"), None);
    assert_eq!(dir.verify("alice", "a1"), Some(true));

    let error = fails(&["-D", &file, "bob"], None, &[]);
    assert!(error.contains("user \"bob\" is not in"), "{error}");
}

#[test]
fn comments_and_blank_lines_survive_an_edit() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(&["-c", "-b", &file, "alice", "a"], &[]);
    let alice = dir.read();
    dir.write(&format!("# Starling's users\n\n{alice}# end\n"));
    ok(&["-b", &file, "bob", "b"], &[]);
    let lines = dir.lines();
    assert_eq!(
        lines[..4],
        ["# Starling's users", "", alice.trim_end(), "# end"]
    );
    assert!(lines[4].starts_with("bob:$7$"));
}

#[test]
fn the_password_from_standard_input() {
    let dir = Dir::new();
    let file = dir.file_str();
    let output = passwd(
        &["-c", &file, "alice"],
        Some("piped secret\n"),
        &["piped secret"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(dir.verify("alice", "piped secret"), Some(true));
    // One line only, with a CRLF ending or none.
    let output = passwd(&[&file, "bob"], Some("bob's\r\nsecond line\n"), &["bob's"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(dir.verify("bob", "bob's"), Some(true));
    let output = passwd(&[&file, "carol"], Some("no newline"), &["no newline"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(dir.verify("carol", "no newline"), Some(true));

    let error = fails(&[&file, "dave"], Some("\n"), &[]);
    assert!(error.contains("empty password"), "{error}");
    let error = fails(&[&file, "dave"], None, &[]);
    assert!(error.contains("empty password"), "{error}");
    assert_eq!(dir.verify("dave", ""), None);
}

#[test]
fn u_hashes_plain_text_and_keeps_hashed_lines() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(&["-c", "-b", &file, "hashed", "h"], &[]);
    let hashed = dir.read();
    dir.write(&format!("# plain\nx:plain one\n{hashed}y: pa:ss \n"));
    ok(&["-U", &file], &["plain one", "pa:ss"]);
    let text = dir.read();
    assert!(
        !text.contains("plain one") && !text.contains("pa:ss"),
        "{text}"
    );
    let lines = dir.lines();
    assert_eq!(lines[0], "# plain");
    assert!(lines[1].starts_with("x:$7$101$"));
    assert_eq!(
        lines[2],
        hashed.trim_end(),
        "an already hashed line is kept"
    );
    assert!(lines[3].starts_with("y:$7$101$"));
    assert_eq!(dir.verify("x", "plain one"), Some(true));
    assert_eq!(dir.verify("y", "pa:ss"), Some(true));
    assert_eq!(dir.verify("hashed", "h"), Some(true));
    // Converting again changes nothing (mosquitto_passwd 2.0 would hash the hashes).
    ok(&["-U", &file], &[]);
    assert_eq!(dir.read(), text);
}

#[test]
fn algorithm_and_iterations() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(&["-I", "1000", "-c", "-b", &file, "slow", "s"], &[]);
    ok(&["-H", "sha512", "-b", &file, "old", "o"], &[]);
    ok(&["-H", "sha512-pbkdf2", "-b", &file, "new", "n"], &[]);
    let lines = dir.lines();
    assert!(lines[0].starts_with("slow:$7$1000$"));
    assert!(lines[1].starts_with("old:$6$"));
    assert!(lines[2].starts_with("new:$7$101$"));
    assert_eq!(dir.verify("slow", "s"), Some(true));
    assert_eq!(dir.verify("old", "o"), Some(true));
    assert_eq!(dir.verify("new", "n"), Some(true));
    for bad in [
        &["-I", "0"][..],
        &["-I", "10000001"],
        &["-H", "md5"],
        &["-H", "sha512", "-I", "5"],
    ] {
        let args: Vec<&str> = bad.iter().copied().chain(["-b", &file, "u", "p"]).collect();
        fails(&args, None, &[]);
    }
    assert_eq!(dir.lines(), lines);
}

#[test]
fn errors_change_nothing_and_say_why() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(&["-c", "-b", &file, "alice", "a"], &[]);
    let before = dir.read();

    let error = fails(&["-c", "-D", &file, "alice"], None, &[]);
    assert!(error.contains("'-c' cannot be used with '-D'"), "{error}");
    let error = fails(&["-b", &file, "a:b", "secret"], None, &["secret"]);
    assert!(error.contains("must not contain ':'"), "{error}");
    let error = fails(&["-b", &file, "bob"], None, &[]);
    assert!(error.contains("-b needs a password"), "{error}");
    let error = fails(&[&file, "bob", "secret"], None, &["secret"]);
    assert!(error.contains("needs -b"), "{error}");
    let error = fails(&["-U", &file, "bob"], None, &[]);
    assert!(error.contains("-U takes the password file only"), "{error}");
    let error = fails(&[&file], None, &[]);
    assert!(error.contains("a username is needed"), "{error}");
    fails(&["-D", "-b", &file, "alice", "a"], None, &[]);
    fails(&["-c", "-U", &file], None, &[]);
    assert_eq!(dir.read(), before);

    let missing = dir.dir.path().join("missing");
    let missing = missing.to_str().expect("UTF-8");
    let error = fails(&["-b", missing, "bob", "b"], None, &[]);
    assert!(error.contains("does not exist (-c creates it)"), "{error}");
    assert!(!Path::new(missing).exists());

    dir.write("alice:x\nnot a user line\n");
    let error = fails(&["-b", &file, "bob", "b"], None, &[]);
    assert!(error.contains(", line 2: no ':'"), "{error}");
    assert_eq!(dir.read(), "alice:x\nnot a user line\n");
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_stays_a_link() {
    let dir = Dir::new();
    let target = dir.dir.path().join("real");
    std::fs::write(&target, "").expect("write");
    std::os::unix::fs::symlink(&target, dir.file()).expect("symlink");
    ok(&["-b", &dir.file_str(), "alice", "a"], &[]);
    assert!(std::fs::symlink_metadata(dir.file())
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert_eq!(load(&target).verify("alice", b"a"), Some(true));
}

/// `starling passwd` and Debian's `mosquitto_passwd` read and write the same files.
#[test]
fn interoperates_with_mosquitto_passwd() {
    let dir = Dir::new();
    let file = dir.file_str();
    ok(&["-c", "-b", &file, "starling", "from starling"], &[]);
    assert_eq!(dir.verify("starling", "from starling"), Some(true));
    assert_eq!(dir.verify("starling", "from mosquitto"), Some(false));

    if !Path::new(MOSQUITTO_PASSWD).exists() {
        println!("note: {MOSQUITTO_PASSWD} is not installed; the Mosquitto half is skipped");
        return;
    }
    let mosquitto = |args: &[&str]| {
        let status = Command::new(MOSQUITTO_PASSWD)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .expect("run mosquitto_passwd");
        assert!(status.success(), "mosquitto_passwd {args:?}: {status:?}");
    };
    // mosquitto_passwd adds a user to a file that starling passwd wrote ...
    mosquitto(&["-b", &file, "mosquitto", "from mosquitto"]);
    assert_eq!(dir.verify("starling", "from starling"), Some(true));
    assert_eq!(dir.verify("mosquitto", "from mosquitto"), Some(true));
    assert_eq!(dir.verify("mosquitto", "from starling"), Some(false));
    // ... starling passwd edits what mosquitto_passwd wrote ...
    ok(&["-b", &file, "starling", "again"], &[]);
    assert_eq!(dir.verify("mosquitto", "from mosquitto"), Some(true));
    assert_eq!(dir.verify("starling", "again"), Some(true));

    // ... and a file mosquitto_passwd made from scratch loads, with both hash types.
    let other = dir.dir.path().join("mosquitto");
    let other_str = other.to_str().expect("UTF-8");
    mosquitto(&["-c", "-b", other_str, "alice", "correct horse"]);
    mosquitto(&["-H", "sha512", "-b", other_str, "carol", "carol pass"]);
    mosquitto(&["-I", "1000", "-b", other_str, "dave", "dåve€"]);
    let file = load(&other);
    assert_eq!(file.len(), 3);
    assert_eq!(file.verify("alice", b"correct horse"), Some(true));
    assert_eq!(file.verify("alice", b"correct horsE"), Some(false));
    assert_eq!(file.verify("carol", b"carol pass"), Some(true));
    assert_eq!(file.verify("carol", b"carol"), Some(false));
    assert_eq!(file.verify("dave", "dåve€".as_bytes()), Some(true));
    assert_eq!(file.verify("eve", b"correct horse"), None);
}

use super::*;

const PATH: &str = "/etc/starling/passwd";

/// Written by Debian's `mosquitto_passwd` 2.0.11: `-c -b f alice 'correct horse'`,
/// `-b f bob 'b0b:pw'`, `-H sha512 -b f carol 'carol pass'`, `-I 1000 -b f dave 'dåve€'`.
const MOSQUITTO_MADE: &str = "\
alice:$7$101$634cyH5cv6hbdUNX$GhHFCz98A+GHaPLSpys8lrTVOo/s8uNe4C9HXY75MvECOciphu06Gu6EDoh6yku7kFRyS1oUq3wGaO2vlVf/ZQ==
bob:$7$101$Z2gYXYH8NJCpjSmO$5xj5erCZe86KaWMDryuunfz+MSNsmNLfdG6TKOObDJ2Q8utH9f+gBEXxE7bTFZKQR/SjB6fIeC4+sibkkGLJ6A==
carol:$6$V9gLYNK8YaP+RNPH$3kzgnEmilST/I6VLMb1BxIrCxjjiMC10+dlYa91gJt7Ge3TNEllcF8dneGlV6OI/rASu9KU8loSdES8Ax3LTeA==
dave:$7$1000$i8xwpRCwyI5GhzbK$Oiwqgc4LIOhdQNKVNzhHlLtIv5oBJ/MRfHtdkoiy1VGYjQtHhv2kgU1djEMkjqrmHHDnnttZP9+ptFs3M5O1og==
";

/// From Mosquitto's own test suite (`test/broker/01-connect-uname-password-denied.pwfile`):
/// its tests connect with `password` (accepted) and `password9` (refused).
const MOSQUITTO_TEST_SUITE: &str = "user:$6$vZY4TS+/HBxHw38S$vvjVFECzb8dyuu/mruD2QKTfdFn0WmKxbc+1TsdB0L8EdHk3v9JRmfjHd56+VaTnUcSZOZ/hzkdvWCtxlX7AUQ==\n";

/// Computed from the documented algorithm (SHA-512 over `sixpass` then the 12 salt bytes
/// 0x00..=0x0b), with Python's hashlib, not by Mosquitto.
const COMPUTED_SHA512: &str = "six:$6$AAECAwQFBgcICQoL$3Pgi2Qu3KWHu0YcUCIVt+iBzx/FoRkn3pMWaiElvoMuXuOPfiA/Cv4RVLMFyp6mY9sshHAsXgaj7D+aj8xT4LA==\n";

fn parse(text: &str) -> PasswordFile {
    PasswordFile::parse(text, Path::new(PATH)).expect("a valid file")
}

fn error(text: &str) -> String {
    PasswordFile::parse(text, Path::new(PATH))
        .expect_err("a malformed file")
        .to_string()
}

#[test]
fn verifies_a_file_made_by_mosquitto_passwd() {
    let file = parse(MOSQUITTO_MADE);
    assert_eq!(file.len(), 4);
    assert!(!file.is_empty());
    assert_eq!(file.verify("alice", b"correct horse"), Some(true));
    assert_eq!(file.verify("bob", b"b0b:pw"), Some(true));
    assert_eq!(file.verify("carol", b"carol pass"), Some(true));
    assert_eq!(file.verify("dave", "dåve€".as_bytes()), Some(true));
}

#[test]
fn wrong_passwords_are_refused() {
    let file = parse(MOSQUITTO_MADE);
    assert_eq!(file.verify("alice", b"correct horsE"), Some(false));
    assert_eq!(file.verify("alice", b"carol pass"), Some(false));
    assert_eq!(file.verify("bob", b"b0b"), Some(false));
    assert_eq!(file.verify("carol", b""), Some(false));
    // Mosquitto's C code stops a password at a NUL byte; this compares every byte.
    assert_eq!(file.verify("carol", b"carol pass\0x"), Some(false));
}

#[test]
fn unknown_users_are_not_mine() {
    let file = parse(MOSQUITTO_MADE);
    assert_eq!(file.verify("mallory", b"correct horse"), None);
    assert_eq!(file.verify("Alice", b"correct horse"), None);
    assert_eq!(file.verify("", b""), None);
    assert!(file.contains("alice") && !file.contains("mallory"));
}

#[test]
fn sha512_fixtures_from_mosquittos_tests_and_from_the_algorithm() {
    let file = parse(&format!("{MOSQUITTO_TEST_SUITE}{COMPUTED_SHA512}"));
    assert_eq!(file.verify("user", b"password"), Some(true));
    assert_eq!(file.verify("user", b"password9"), Some(false));
    assert_eq!(file.verify("six", b"sixpass"), Some(true));
    assert_eq!(file.verify("six", b"sixpas"), Some(false));
}

#[test]
fn comments_blanks_crlf_and_spaces() {
    let crlf = MOSQUITTO_MADE.replace('\n', "\r\n");
    let spaced = MOSQUITTO_TEST_SUITE.replacen("user:", "  user  :  ", 1);
    let text = format!("# users\n\n   \n  # indented: comment\n{crlf}{spaced}");
    let file = parse(&text);
    assert_eq!(file.len(), 5);
    assert_eq!(file.verify("alice", b"correct horse"), Some(true));
    assert_eq!(file.verify("user", b"password"), Some(true));
    assert!(parse("").is_empty());
    assert!(parse("# nobody\n").is_empty());
}

#[test]
fn a_round_trip_through_hash_password() {
    let text = format!(
        "first:{}\nsecond:{}\n",
        hash_password(b"one"),
        hash_password(b"")
    );
    let file = parse(&text);
    assert_eq!(file.verify("first", b"one"), Some(true));
    assert_eq!(file.verify("first", b"two"), Some(false));
    assert_eq!(file.verify("second", b""), Some(true));
    assert_eq!(file.verify("second", b" "), Some(false));
}

#[test]
fn malformed_lines_are_reported_with_their_number() {
    let good = "alice:$7$101$634cyH5cv6hbdUNX$GhHFCz98A+GHaPLSpys8lrTVOo/s8uNe4C9HXY75MvECOciphu06Gu6EDoh6yku7kFRyS1oUq3wGaO2vlVf/ZQ==";
    let cases = [
        (
            "just a name",
            3,
            "no ':' between the username and the password",
        ),
        (":$7$x", 3, "the username is empty"),
        ("eve:", 3, "the password is empty"),
        ("eve:hunter2", 3, "the password is not hashed"),
        ("eve:$1$abc$def", 3, "unknown hash type"),
        (
            "eve:$7$0$634cyH5cv6hbdUNX$AAAA",
            3,
            "0 iterations: must be 1 to 10000000",
        ),
        (
            "eve:$7$101$634cyH5cv6hbdUNX$AAAA",
            3,
            "the hash is 3 bytes, not 64",
        ),
        (
            &good.replace("alice", "eve").replace("634c", "*34c"),
            3,
            "the salt is not valid base64",
        ),
        (good, 3, "user \"alice\" is already on line 1"),
    ];
    for (bad, line, message) in cases {
        let text = format!("{good}\n# comment\n{bad}\n");
        let error = error(&text);
        let prefix = format!("password file {PATH}, line {line}: ");
        assert!(error.starts_with(&prefix), "{error:?} for {bad:?}");
        assert!(error.contains(message), "{error:?} for {bad:?}");
    }
}

#[test]
fn errors_quote_no_password_or_hash() {
    for bad in [
        "eve:hunter2",
        "eve:$7$101$c2VjcmV0c2VjcmV0$c2VjcmV0",
        "hunter2",
    ] {
        let error = error(&format!("{bad}\n"));
        for secret in ["hunter2", "c2VjcmV0", "$7$101"] {
            assert!(!error.contains(secret), "{error:?}");
        }
    }
    let debug = format!("{:?}", parse(MOSQUITTO_MADE));
    assert_eq!(debug, "PasswordFile { users: 4 }");
}

#[test]
fn iterations_over_the_cap_are_refused() {
    let text = "eve:$7$10000001$634cyH5cv6hbdUNX$GhHFCz98A+GHaPLSpys8lrTVOo/s8uNe4C9HXY75MvECOciphu06Gu6EDoh6yku7kFRyS1oUq3wGaO2vlVf/ZQ==\n";
    assert!(error(text).contains("10000001 iterations: must be 1 to 10000000"));
}

#[test]
fn long_lines_are_refused() {
    let text = format!("alice:{}\n", "A".repeat(MAX_LINE_BYTES));
    assert_eq!(
        error(&format!("# first\n{text}")),
        format!("password file {PATH}, line 2: the line is over {MAX_LINE_BYTES} bytes")
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("passwd");
    std::fs::write(&path, MOSQUITTO_MADE).expect("write");
    let file = PasswordFile::load(&path).expect("loads");
    assert_eq!(file.verify("alice", b"correct horse"), Some(true));

    let missing = dir.path().join("missing");
    let error = PasswordFile::load(&missing).expect_err("no such file");
    assert!(matches!(error, PasswordFileError::Io { .. }));
    assert!(error.to_string().contains(&missing.display().to_string()));

    std::fs::write(&path, b"alice:x\n# ok\nb\xffb:x\n").expect("write");
    let error = PasswordFile::load(&path).expect_err("not UTF-8");
    assert_eq!(
        error.to_string(),
        format!(
            "password file {}, line 3: the line is not valid UTF-8",
            path.display()
        )
    );
}

#[test]
fn load_refuses_a_file_over_the_limit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("passwd");
    // Sparse: no disk space used.
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(MAX_FILE_BYTES + 1).expect("set_len");
    drop(file);
    let error = PasswordFile::load(&path).expect_err("too large");
    assert!(
        matches!(error, PasswordFileError::TooLarge { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("over 67108864 bytes"), "{error}");
}

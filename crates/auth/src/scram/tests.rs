#![allow(clippy::unwrap_used)]

use super::*;

const SALT_7677: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST_7677: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE_7677: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SERVER_FIRST_7677: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                 s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL_7677: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                 p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL_7677: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn user(algorithm: ScramAlgorithm, password: &str, salt: &[u8]) -> ScramUser {
    ScramUser {
        credential: ScramCredential::derive(algorithm, password.as_bytes(), salt, 4096),
        superuser: false,
    }
}

/// RFC 7677's user with the right password (derived once: PBKDF2 is slow unoptimised).
fn pencil() -> ScramUser {
    static PENCIL: std::sync::OnceLock<ScramUser> = std::sync::OnceLock::new();
    PENCIL
        .get_or_init(|| {
            let salt = STANDARD.decode(SALT_7677).unwrap();
            user(ScramAlgorithm::Sha256, "pencil", &salt)
        })
        .clone()
}

fn start_7677(password: &str) -> ServerFirstSent {
    let salt = STANDARD.decode(SALT_7677).unwrap();
    let known = || match password {
        "pencil" => pencil(),
        other => user(ScramAlgorithm::Sha256, other, &salt),
    };
    let (state, server_first) = ScramServer::new(ScramAlgorithm::Sha256)
        .start(
            CLIENT_FIRST_7677.as_bytes(),
            |name, _| (name == "user").then(known),
            Some(SERVER_NONCE_7677),
        )
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&server_first).unwrap(),
        SERVER_FIRST_7677
    );
    state
}

#[test]
fn the_rfc_7677_exchange_verifies_and_signs() {
    let done = start_7677("pencil")
        .finish(CLIENT_FINAL_7677.as_bytes())
        .unwrap();
    assert_eq!(done.username, "user");
    assert_eq!(
        std::str::from_utf8(&done.server_final).unwrap(),
        SERVER_FINAL_7677
    );
}

#[test]
fn a_wrong_password_is_a_wrong_proof() {
    assert_eq!(
        start_7677("pen")
            .finish(CLIENT_FINAL_7677.as_bytes())
            .unwrap_err(),
        ScramError::WrongProof
    );
    // The proof of another password, of the right length.
    let wrong = CLIENT_FINAL_7677.replace("dHzb", "dHzc");
    assert_eq!(
        start_7677("pencil").finish(wrong.as_bytes()).unwrap_err(),
        ScramError::WrongProof
    );
    let short = format!(
        "{},p=AAAA",
        &CLIENT_FINAL_7677[..CLIENT_FINAL_7677.len() - 47]
    );
    assert_eq!(
        start_7677("pencil").finish(short.as_bytes()).unwrap_err(),
        ScramError::WrongProof
    );
}

/// A client's side, written from the RFC, for SHA-512 (which has no published vector).
fn client_final(
    algorithm: ScramAlgorithm,
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> (String, Vec<u8>) {
    let fields: Vec<&str> = server_first.split(',').collect();
    let nonce = fields[0].strip_prefix("r=").unwrap();
    let salt = STANDARD
        .decode(fields[1].strip_prefix("s=").unwrap())
        .unwrap();
    let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
    let mut salted = vec![0; algorithm.hash_len()];
    match algorithm {
        ScramAlgorithm::Sha256 => {
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted)
        }
        ScramAlgorithm::Sha512 => {
            pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations, &mut salted)
        }
    }
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let client_key = hmac(algorithm, &salted, b"Client Key");
    let signature = hmac(
        algorithm,
        &hash(algorithm, &client_key),
        auth_message.as_bytes(),
    );
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac(algorithm, &salted, b"Server Key");
    (
        format!("{without_proof},p={}", STANDARD.encode(proof)),
        hmac(algorithm, &server_key, auth_message.as_bytes()),
    )
}

#[test]
fn sha_512_round_trips_with_a_random_nonce_and_salt() {
    let credentials = ScramCredential::derive_all(b"secret", 4096);
    assert_eq!(credentials.len(), 2);
    assert!(credentials.iter().all(ScramCredential::is_well_formed));
    let credential = credentials
        .iter()
        .find(|c| c.algorithm == ScramAlgorithm::Sha512)
        .unwrap()
        .clone();
    let (state, server_first) = ScramServer::new(ScramAlgorithm::Sha512)
        .start(
            b"n,,n=a=2Cb=3Dc,r=abc",
            |name, _| {
                assert_eq!(name, "a,b=c");
                Some(ScramUser {
                    credential: credential.clone(),
                    superuser: true,
                })
            },
            None,
        )
        .unwrap();
    let server_first = String::from_utf8(server_first).unwrap();
    let (last, signature) = client_final(
        ScramAlgorithm::Sha512,
        "secret",
        "n=a=2Cb=3Dc,r=abc",
        &server_first,
    );
    let done = state.finish(last.as_bytes()).unwrap();
    assert!(done.superuser);
    assert_eq!(
        done.server_final,
        format!("v={}", STANDARD.encode(signature)).into_bytes()
    );
    // The debug form shows no key.
    let shown = format!("{credential:?}");
    assert!(
        !shown.contains("stored_key") && !shown.contains("server_key"),
        "{shown}"
    );
}

#[test]
fn an_unknown_user_or_one_without_credentials_of_the_mechanism_is_unknown() {
    let server = ScramServer::new(ScramAlgorithm::Sha512);
    assert_eq!(
        server
            .start(CLIENT_FIRST_7677.as_bytes(), |_, _| None, None)
            .unwrap_err(),
        ScramError::UnknownUser
    );
    let sha256 = user(ScramAlgorithm::Sha256, "pencil", b"salt");
    assert_eq!(
        server
            .start(CLIENT_FIRST_7677.as_bytes(), |_, _| Some(sha256), None)
            .unwrap_err(),
        ScramError::UnknownUser
    );
}

#[test]
fn malformed_client_first_messages_are_refused() {
    let long = format!("n,,n=user,r={}", "x".repeat(MAX_MESSAGE));
    let cases: [&[u8]; 16] = [
        b"",
        b"n",
        b"n,",
        b"x,,n=user,r=abc",
        b"n,,",
        b"n,,r=abc",
        b"n,,n=user",
        b"n,,n=,r=abc",
        b"n,,n=user,r=",
        b"n,,n=us=er,r=abc",
        b"n,,n=user=2,r=abc",
        b"n,,n=user,r=a\x01c",
        b"n,,n=user,x=abc",
        b"n,b,n=user,r=abc",
        b"\xff,,n=user,r=abc",
        long.as_bytes(),
    ];
    for case in cases {
        let refused = ScramServer::new(ScramAlgorithm::Sha256).start(
            case,
            |_, _| Some(user(ScramAlgorithm::Sha256, "p", b"s")),
            None,
        );
        assert!(
            matches!(refused, Err(ScramError::Malformed(_))),
            "{:?}: {refused:?}",
            String::from_utf8_lossy(case)
        );
    }
    for case in [
        "p=tls-unique,,n=user,r=abc",
        "n,a=admin,n=user,r=abc",
        "n,,m=ext,n=user,r=abc",
    ] {
        let refused =
            ScramServer::new(ScramAlgorithm::Sha256).start(case.as_bytes(), |_, _| None, None);
        assert!(
            matches!(refused, Err(ScramError::Unsupported(_))),
            "{case}: {refused:?}"
        );
    }
}

#[test]
fn malformed_client_final_messages_are_refused() {
    let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    for case in [
        String::new(),
        "c=biws".to_owned(),
        format!("c=biws,r={nonce}"),
        format!("r={nonce},p={proof}"),
        format!("c=biws,p={proof}"),
        format!("c=!!,r={nonce},p={proof}"),
        format!("c=biws,r={nonce},p=!!"),
        // Another nonce than the exchange's.
        format!("c=biws,r={nonce}x,p={proof}"),
        // A channel binding other than the gs2 header ("y,,").
        format!("c=eSws,r={nonce},p={proof}"),
        format!("c=biws,r={nonce},p={}", "A".repeat(MAX_MESSAGE)),
    ] {
        let refused = start_7677("pencil").finish(case.as_bytes());
        assert!(
            matches!(refused, Err(ScramError::Malformed(_))),
            "{case}: {refused:?}"
        );
    }
}

proptest::proptest! {
    /// Whatever the client sends, each step answers with a value, never a panic.
    #[test]
    fn any_bytes_are_answered_without_a_panic(
        first in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        last in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        text in "[nyp]?,(a=[a-z]*)?,(n=[a-z=2C3D]*)?(,r=[!-~]*)?(,[a-z]=[!-~]*)*",
        last_text in "(c=[A-Za-z0-9+/=]*)?(,r=[!-~]*)?(,p=[A-Za-z0-9+/=]*)?",
    ) {
        let lookup = |_: &str, _| Some(pencil());
        for first in [&first[..], text.as_bytes()] {
            if let Ok((state, _)) = ScramServer::new(ScramAlgorithm::Sha256).start(first, lookup, None) {
                let _ = state.clone().finish(&last);
                let _ = state.finish(last_text.as_bytes());
            }
        }
        let _ = start_7677("pencil").finish(&last);
        let _ = start_7677("pencil").finish(last_text.as_bytes());
    }
}

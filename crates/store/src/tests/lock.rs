//! One store per directory.

use super::*;
use crate::StoreError;

#[test]
fn a_second_open_of_a_live_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let clone = store.clone();
    drop(store);
    let err = Store::open(&StoreOptions::new(dir.path())).expect_err("locked");
    match &err {
        StoreError::Locked { path } => assert_eq!(path, &dir.path().join("LOCK")),
        other => panic!("expected Locked, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("in use by another broker"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    drop(clone);
    let (_store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean());
}

#[test]
fn a_batch_keeps_the_store_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut batch = store.batch();
    drop(store);
    batch.put_retained(&message("t", "x"));
    assert!(matches!(
        Store::open(&StoreOptions::new(dir.path())),
        Err(StoreError::Locked { .. })
    ));
    batch.commit().unwrap();
    let (_store, recovered) = open(dir.path());
    assert_eq!(recovered.retained.len(), 1);
}

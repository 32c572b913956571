//! `[[topic_rewrite]]` and `[[auto_subscribe]]`: parsed, defaulted and refused by key.

use super::*;

const DOC: &str = include_str!("../../../config/starling.toml");

fn invalid_key(text: &str) -> String {
    match parse_str(text, "t.toml") {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn the_commented_module_examples_of_the_documented_file_validate() {
    let text: String = DOC
        .lines()
        .skip_while(|l| !l.starts_with("# [[topic_rewrite]]"))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.starts_with('[') || l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let config = parse_str(&text, "examples").expect("valid");
    assert_eq!(config.modules.topic_rewrite.len(), 1);
    assert_eq!(config.modules.topic_rewrite[0].action, RewriteAction::All);
    assert_eq!(config.modules.topic_rewrite[0].dest_topic, "y/$1");
    let auto = &config.modules.auto_subscribe[0];
    assert_eq!(
        (auto.topic.as_str(), auto.qos, auto.rh),
        ("dev/${clientid}/cmd", 1, 0)
    );
}

#[test]
fn module_rules_are_refused_naming_the_key() {
    let rule = "[[topic_rewrite]]\naction = \"all\"\nsource_topic = \"x/#\"\nre = \"x\"\n";
    assert_eq!(
        invalid_key(&format!("{rule}dest_topic = \"\"\n")),
        "topic_rewrite[0].dest_topic"
    );
    let many = format!("{rule}dest_topic = \"y\"\n").repeat(MAX_REWRITE_RULES + 1);
    assert_eq!(invalid_key(&many), "topic_rewrite");
    assert_eq!(
        invalid_key("[[auto_subscribe]]\ntopic = \"a\"\nqos = 3\n"),
        "auto_subscribe[0].qos"
    );
    assert_eq!(
        invalid_key("[[auto_subscribe]]\ntopic = \"a\"\nrh = 3\n"),
        "auto_subscribe[0].rh"
    );
    assert!(parse_str("[[topic_rewrite]]\naction = \"both\"\n", "t").is_err());
}

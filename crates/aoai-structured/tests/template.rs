#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Prompt templates, settings and the TOML library.

use std::path::PathBuf;

use aoai_core::chat::ChatRequest;
use aoai_structured::template::TemplateRole;
use aoai_structured::{GenerationSettings, PromptTemplate, TemplateError, TemplateLibrary};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("aoai-structured-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn greeting() -> PromptTemplate {
    PromptTemplate::builder("greeting")
        .description("Greets someone")
        .system("You are {{ persona }}.")
        .user("Say hello to {{name}} in {{language}}; JSON like {\"a\": {\"b\": 1}} stays literal.")
        .assistant("Hello, {{name}}!")
        .build()
        .unwrap()
}

#[test]
fn renders_roles_and_variables() {
    let template = greeting();
    assert_eq!(template.variables().collect::<Vec<_>>(), ["language", "name", "persona"]);
    assert_eq!(template.description(), Some("Greets someone"));
    let messages = template.render([("persona", "a pirate"), ("name", "Ada"), ("language", "French")]).unwrap();
    let roles: Vec<&str> = messages.iter().map(|message| message.role()).collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    assert_eq!(messages[0].text().unwrap(), "You are a pirate.");
    assert_eq!(messages[1].text().unwrap(), "Say hello to Ada in French; JSON like {\"a\": {\"b\": 1}} stays literal.");
    assert_eq!(messages[2].text().unwrap(), "Hello, Ada!");
}

#[test]
fn syntax_errors_are_caught_at_build() {
    let unclosed = PromptTemplate::builder("t").user("Hi {{name").build().unwrap_err();
    assert!(
        matches!(&unclosed, TemplateError::Syntax { message_index: 0, offset: 3, reason, .. } if reason.contains("not closed")),
        "{unclosed:?}"
    );
    for bad in ["{{}}", "{{1st}}", "{{first name}}", "{{a-b}}"] {
        let error = PromptTemplate::builder("t").system("ok").user(bad).build().unwrap_err();
        assert!(
            matches!(&error, TemplateError::Syntax { message_index: 1, reason, .. } if reason.contains("not a valid variable name")),
            "{bad}: {error:?}"
        );
    }
    assert!(matches!(PromptTemplate::builder("t").build().unwrap_err(), TemplateError::Empty { .. }));
}

#[test]
fn missing_and_extra_variables_are_errors() {
    let template = greeting();
    match template.render([("name", "Ada")]).unwrap_err() {
        TemplateError::MissingVariables { template, names } => {
            assert_eq!(template, "greeting");
            assert_eq!(names, ["language", "persona"]);
        }
        other => panic!("expected MissingVariables, got {other:?}"),
    }
    let error = template
        .render([("persona", "p"), ("name", "n"), ("language", "l"), ("mood", "m"), ("colour", "c")])
        .unwrap_err();
    assert!(matches!(&error, TemplateError::ExtraVariables { names, .. } if names == &["colour", "mood"]), "{error:?}");
    let no_variables = PromptTemplate::builder("plain").user("Hi.").build().unwrap();
    assert_eq!(no_variables.render(Vec::<(&str, &str)>::new()).unwrap().len(), 1);
}

#[test]
fn settings_apply_to_requests() {
    let settings = GenerationSettings::new()
        .temperature(0.2)
        .top_p(0.9)
        .frequency_penalty(0.5)
        .presence_penalty(-0.5)
        .seed(42)
        .max_tokens(100);
    let request = settings.apply(ChatRequest::new(Vec::new()).temperature(1.0).n(2));
    assert_eq!(request.temperature, Some(0.2));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.frequency_penalty, Some(0.5));
    assert_eq!(request.presence_penalty, Some(-0.5));
    assert_eq!(request.seed, Some(42));
    assert_eq!(request.max_tokens, Some(100));
    assert_eq!(request.n, Some(2));
    // Unset settings leave the request alone.
    let untouched = GenerationSettings::new().apply(ChatRequest::new(Vec::new()).temperature(1.0));
    assert_eq!(untouched.temperature, Some(1.0));
    let template = PromptTemplate::builder("t").user("{{q}}").settings(settings).build().unwrap();
    let request = template.render_request([("q", "why?")]).unwrap();
    assert_eq!(request.seed, Some(42));
    assert_eq!(request.messages.len(), 1);
}

#[test]
fn library_loads_a_directory_of_toml_files() {
    let dir = TempDir::new("library");
    dir.write(
        "summarize.toml",
        r#"
name = "summarize"
description = "Summarize a text"

[[messages]]
role = "system"
content = "You summarize texts in {{n_words}} words."

[[messages]]
role = "user"
content = "{{text}}"

[settings]
temperature = 0.2
seed = 7
max_tokens = 200
"#,
    );
    dir.write(
        "translate.toml",
        "name = \"translate\"\nmessages = [{ role = \"user\", content = \"Translate {{text}}\" }]\n",
    );
    dir.write("notes.txt", "not a template");
    let library = TemplateLibrary::load_dir(&dir.0).unwrap();
    assert_eq!(library.names().collect::<Vec<_>>(), ["summarize", "translate"]);
    assert_eq!(library.len(), 2);
    let summarize = library.get("summarize").unwrap();
    assert_eq!(summarize.settings().temperature, Some(0.2));
    let request = summarize.render_request([("n_words", "ten"), ("text", "A long story.")]).unwrap();
    assert_eq!(request.seed, Some(7));
    assert_eq!(request.max_tokens, Some(200));
    assert_eq!(request.messages[0].text().unwrap(), "You summarize texts in ten words.");
    assert!(library.get("missing").is_none());
}

#[test]
fn library_reports_bad_files() {
    let dir = TempDir::new("bad-syntax");
    dir.write("a.toml", "name = \"a\"\nmessages = [{ role = \"user\", content = \"{{oops\" }]\n");
    let error = TemplateLibrary::load_dir(&dir.0).unwrap_err();
    assert!(matches!(&error, TemplateError::Syntax { template, .. } if template == "a"), "{error:?}");

    let dir = TempDir::new("typo");
    dir.write(
        "a.toml",
        "name = \"a\"\nmessages = [{ role = \"user\", content = \"hi\" }]\n[settings]\ntemprature = 1.0\n",
    );
    let error = TemplateLibrary::load_dir(&dir.0).unwrap_err();
    assert!(
        matches!(&error, TemplateError::Toml { path, message } if path.ends_with("a.toml") && message.contains("temprature")),
        "{error:?}"
    );

    let dir = TempDir::new("role");
    dir.write("a.toml", "name = \"a\"\nmessages = [{ role = \"robot\", content = \"hi\" }]\n");
    assert!(matches!(TemplateLibrary::load_dir(&dir.0).unwrap_err(), TemplateError::Toml { .. }));

    let dir = TempDir::new("duplicate");
    dir.write("a.toml", "name = \"same\"\nmessages = [{ role = \"user\", content = \"a\" }]\n");
    dir.write("b.toml", "name = \"same\"\nmessages = [{ role = \"user\", content = \"b\" }]\n");
    let error = TemplateLibrary::load_dir(&dir.0).unwrap_err();
    assert!(matches!(&error, TemplateError::DuplicateName { name } if name == "same"), "{error:?}");

    let missing = TemplateLibrary::load_dir(std::env::temp_dir().join("aoai-structured-does-not-exist")).unwrap_err();
    assert!(matches!(missing, TemplateError::Io { .. }));
}

#[test]
fn templates_parse_from_toml_text() {
    let template = PromptTemplate::from_toml(
        "name = \"dev\"\nmessages = [{ role = \"developer\", content = \"Be brief about {{topic}}.\" }]\n",
    )
    .unwrap();
    let messages = template.render([("topic", "rust")]).unwrap();
    assert_eq!(messages[0].role(), "developer");
    let mut library = TemplateLibrary::new();
    assert!(library.is_empty());
    library.insert(template.clone()).unwrap();
    assert!(matches!(library.insert(template).unwrap_err(), TemplateError::DuplicateName { .. }));
    let built = PromptTemplate::builder("x").message(TemplateRole::User, "u").build().unwrap();
    assert_eq!(built.name(), "x");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 64, failure_persistence: None, ..Default::default() })]

    /// Text without `{{` renders verbatim, and values are inserted verbatim
    /// (a value containing `{{x}}` is not expanded again).
    #[test]
    fn rendering_is_literal(
        before in "[^{]{0,20}",
        after in "[^{]{0,20}",
        value in "\\PC{0,20}",
    ) {
        let template = PromptTemplate::builder("p").user(format!("{before}{{{{v}}}}{after}")).build().unwrap();
        let messages = template.render([("v", value.as_str())]).unwrap();
        proptest::prop_assert_eq!(messages[0].text().unwrap(), format!("{before}{value}{after}"));
    }
}

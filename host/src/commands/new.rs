//! `headwater new`: a connector project to start from, in Rust, Python,
//! JavaScript or C. Each is a small but real connector (one stream read from a
//! JSON API page by page through the host's `http` interface, incrementally,
//! checkpointed after every page) written with the SDK its language's example
//! in `connectors/examples/` uses, a `build.sh`, a README, and its own test:
//! `test.sh` builds the component, installs it into a throwaway home and runs
//! it with the host against `testdata/api.py`, a stand-in API on 127.0.0.1.
//!
//! The templates are the files under `host/templates/`, embedded in the binary.
//! `{{name}}`, `{{sdk}}` and `{{headwater}}` in them are replaced as plain text:
//! the connector's name, the Headwater repository the project builds with
//! (its SDKs, WIT world and toolchains), and this binary, for `test.sh`.

use super::Output;
use headwater::{Error, NameKind, check_name};
use std::path::{Path, PathBuf};

/// The repository this binary was built from: where a project finds the SDK,
/// the WIT world and the toolchains unless `--sdk` says otherwise.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Create a connector project (Rust, Python, JavaScript or C) that builds and passes its own test.
///
/// The project holds a connector that reads one stream from a JSON API page by
/// page and incrementally, its `build.sh`, a README, and `test.sh`, which builds
/// the component, installs it into a throwaway home and runs it with headwater
/// against a stand-in API (`testdata/api.py`).
#[derive(clap::Args)]
pub struct New {
    /// The connector's name (letters, digits, `-`, `_`, `.`; not first: `.`, `_`).
    name: String,
    /// The connector's language.
    #[arg(long, value_enum)]
    lang: Lang,
    /// The folder to create (default: ./NAME). It must not exist, or be empty.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// The Headwater repository the project builds with: its SDK (a path
    /// dependency for Rust), WIT world and toolchains (`just setup-langs`).
    #[arg(long, value_name = "REPO", default_value = REPO)]
    sdk: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Lang {
    Rust,
    Python,
    Js,
    C,
}

impl Lang {
    fn key(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }

    /// What the project needs from the repository, beside the WIT world.
    fn sdk_file(self) -> Option<&'static str> {
        match self {
            Lang::Rust => Some("sdk/rust/Cargo.toml"),
            Lang::Python => Some("sdk/python/headwater/__init__.py"),
            Lang::Js => Some("sdk/js/headwater.js"),
            Lang::C => None,
        }
    }

    /// What a user runs once before the first build.
    fn setup(self, sdk: &str) -> String {
        match self {
            Lang::Rust => "rustup target add wasm32-wasip2".into(),
            _ => format!("just setup-langs (in {sdk})"),
        }
    }
}

/// One file of a project: its path in the project, its template, whether it is a script.
struct Template {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

macro_rules! template {
    ($path:literal, $file:literal) => {
        template!($path, $file, false)
    };
    ($path:literal, $file:literal, $executable:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $file)),
            executable: $executable,
        }
    };
}

/// Every language's own files; README.md gets the shared part appended.
fn templates(lang: Lang) -> Vec<Template> {
    let mut files = match lang {
        Lang::Rust => vec![
            template!("Cargo.toml", "rust/Cargo.toml.tmpl"),
            template!("src/lib.rs", "rust/src/lib.rs"),
            template!("build.sh", "rust/build.sh", true),
            template!("README.md", "rust/README.md"),
            template!(".gitignore", "rust/gitignore"),
        ],
        Lang::Python => vec![
            template!("app.py", "python/app.py"),
            template!("build.sh", "python/build.sh", true),
            template!("README.md", "python/README.md"),
            template!(".gitignore", "python/gitignore"),
        ],
        Lang::Js => vec![
            template!("connector.js", "js/connector.js"),
            template!("build.sh", "js/build.sh", true),
            template!("README.md", "js/README.md"),
            template!(".gitignore", "js/gitignore"),
        ],
        Lang::C => vec![
            template!("connector.c", "c/connector.c"),
            template!("build.sh", "c/build.sh", true),
            template!("README.md", "c/README.md"),
            template!(".gitignore", "c/gitignore"),
        ],
    };
    files.extend([
        template!("test.sh", "common/test.sh", true),
        template!("testdata/api.py", "common/testdata/api.py"),
        template!("testdata/items.json", "common/testdata/items.json"),
    ]);
    files
}

const README_TAIL: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/common/README.tail.md"));

/// What `new` made, as `--json` prints it.
#[derive(serde::Serialize)]
struct Made {
    name: String,
    lang: Lang,
    dir: PathBuf,
    sdk: PathBuf,
    files: Vec<String>,
    /// The project's own test.
    test: String,
}

impl New {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        check_name(NameKind::Connector, &self.name).map_err(Error::from)?;
        if self.lang == Lang::Rust {
            cargo_name(&self.name)?;
        }
        let sdk = repository(&self.sdk, self.lang)?;
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from(&self.name));
        refuse_to_overwrite(&dir)?;
        // A test finds this binary here unless $HEADWATER says otherwise (none when it cannot be written safely).
        let headwater = std::env::current_exe().ok().and_then(|p| script_safe(&p)).unwrap_or_default();
        let sdk_text = script_safe(&sdk).expect("`repository` checked it");
        let vars = Vars { name: &self.name, sdk: &sdk_text, headwater: &headwater };

        let mut files = Vec::new();
        for t in templates(self.lang) {
            let mut text = vars.fill(t.text);
            if t.path == "README.md" {
                text.push_str(&vars.fill(README_TAIL));
            }
            write(&dir, t.path, &text, t.executable)?;
            files.push(t.path.to_string());
        }
        if self.lang == Lang::Rust
            && let Some(lock) = seed_lock(&sdk, &self.name)
        {
            write(&dir, "Cargo.lock", &lock, false)?;
            files.push("Cargo.lock".into());
        }

        let made = Made { name: self.name, lang: self.lang, dir, sdk, files, test: "./test.sh".into() };
        out.print(&made, |m| {
            let sdk = m.sdk.display().to_string();
            format!(
                "created the {} connector `{}` in {}: {}\nonce:  {}\nthen:  cd {} && ./test.sh   (builds it, runs it with headwater against a stand-in API)",
                m.lang.key(),
                m.name,
                m.dir.display(),
                m.files.join(", "),
                m.lang.setup(&sdk),
                m.dir.display(),
            )
        });
        Ok(())
    }
}

/// What the templates' placeholders become.
struct Vars<'a> {
    name: &'a str,
    sdk: &'a str,
    headwater: &'a str,
}

impl Vars<'_> {
    fn fill(&self, template: &str) -> String {
        template.replace("{{name}}", self.name).replace("{{sdk}}", self.sdk).replace("{{headwater}}", self.headwater)
    }
}

/// A Rust connector's name is its Cargo package's (the SDK puts
/// `CARGO_PKG_NAME` in its spec), and Cargo is stricter than Headwater.
fn cargo_name(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "`{name}` cannot name a Rust connector: its name is its Cargo package's, which starts with a letter and \
         has only letters, digits, `-` and `_`"
    )))
}

/// The repository at `given`, made absolute, if it holds what a project of `lang` builds with.
fn repository(given: &Path, lang: Lang) -> Result<PathBuf, Error> {
    let not_it = |what: &str| {
        Error::Usage(format!(
            "--sdk {}: {what}; pass --sdk with the root of a Headwater repository (its wit/ and sdk/ folders)",
            given.display()
        ))
    };
    let repo = given.canonicalize().map_err(|e| not_it(&format!("cannot open it ({e})")))?;
    for needed in std::iter::once("wit/world.wit").chain(lang.sdk_file()) {
        if !repo.join(needed).is_file() {
            return Err(not_it(&format!("it has no {needed}, so it is not a Headwater repository")));
        }
    }
    if script_safe(&repo).is_none() {
        return Err(not_it(
            "its path has a character that the project's scripts and Cargo.toml cannot quote (a quote, a backslash, \
             `$`, a backtick or a control character): use a path without one",
        ));
    }
    Ok(repo)
}

/// The path as text that can go inside double quotes in a shell script and a TOML string as it is.
fn script_safe(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let unsafe_char = |c: char| matches!(c, '"' | '\\' | '$' | '`') || c.is_control();
    (!text.contains(unsafe_char)).then(|| text.to_string())
}

/// Refuses a `dir` that is a file, or a folder with anything in it.
fn refuse_to_overwrite(dir: &Path) -> Result<(), Error> {
    let in_use = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => true,
        Err(e) => return Err(Error::Io { context: format!("reading {}", dir.display()), source: e }),
    };
    if in_use {
        return Err(Error::Usage(format!(
            "{} already exists and is not empty: `headwater new` writes only into a new or empty folder; choose \
             another with --dir, or remove it",
            dir.display()
        )));
    }
    Ok(())
}

fn write(dir: &Path, rel: &str, text: &str, executable: bool) -> Result<(), Error> {
    let path = dir.join(rel);
    let io = |what: &str| {
        let context = format!("{what} {}", path.display());
        move |source| Error::Io { context, source }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating the folder of"))?;
    }
    std::fs::write(&path, text).map_err(io("writing"))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io("making executable"))?;
    }
    Ok(())
}

/// A Cargo.lock for a Rust project: the one of the repository's Rust example,
/// which has the same direct dependencies (the SDK, serde, serde_json,
/// schemars), its own package renamed. The first build then uses the versions
/// the repository builds and tests with, and needs no registry index (cargo
/// drops what the project does not use). None when the repository has none:
/// cargo then resolves the versions itself.
fn seed_lock(repo: &Path, name: &str) -> Option<String> {
    let lock = std::fs::read_to_string(repo.join("connectors/examples/rust-orders/Cargo.lock")).ok()?;
    let own = "\nname = \"rust-orders\"\n";
    lock.contains(own).then(|| lock.replacen(own, &format!("\nname = \"{name}\"\n"), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every placeholder of every template is one `Vars` fills.
    #[test]
    fn every_placeholder_is_filled() {
        let vars = Vars { name: "my-items", sdk: "/repo", headwater: "/bin/headwater" };
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            for t in templates(lang).iter().map(|t| t.text).chain([README_TAIL]) {
                let filled = vars.fill(t);
                assert!(!filled.contains("{{"), "{lang:?}: a placeholder is left in:\n{filled}");
            }
        }
    }

    #[test]
    fn a_rust_connector_needs_a_cargo_package_name() {
        for ok in ["items", "my-items", "my_items2"] {
            cargo_name(ok).unwrap();
        }
        for bad in ["2items", "my.items", "-items"] {
            let err = cargo_name(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("Cargo"), "{err}");
        }
    }

    #[test]
    fn a_folder_with_anything_in_it_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        refuse_to_overwrite(&tmp.path().join("new")).unwrap();
        refuse_to_overwrite(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("x"), "").unwrap();
        let err = refuse_to_overwrite(tmp.path()).unwrap_err().to_string();
        assert!(err.contains(&tmp.path().display().to_string()) && err.contains("not empty"), "{err}");
        assert!(refuse_to_overwrite(&tmp.path().join("x")).is_err(), "a file is refused too");
    }

    #[test]
    fn paths_the_scripts_cannot_quote_are_refused() {
        assert_eq!(script_safe(Path::new("/a b/c")).as_deref(), Some("/a b/c"));
        for bad in ["/a\"b", "/a$b", "/a`b", "/a\\b", "/a\nb"] {
            assert_eq!(script_safe(Path::new(bad)), None, "{bad:?}");
        }
    }
}

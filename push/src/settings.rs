//! Push mode's settings (`BLACKBOX_REMOTE_WRITE_*`, `BLACKBOX_PUSH_*`), validated once, each
//! error naming its variable. No URL: no push mode. Secrets are held in types whose `Debug`
//! never shows them.

use lambda_blackbox_contract::targets_file::{parse_targets, Target};
use url::Url;

use lambda_blackbox_contract::{Environment, Secret, SecretKind, SettingsError};

pub const REMOTE_WRITE_URL_VAR: &str = "BLACKBOX_REMOTE_WRITE_URL";
pub const REMOTE_WRITE_AUTH_VAR: &str = "BLACKBOX_REMOTE_WRITE_AUTH";
pub const SIGV4_REGION_VAR: &str = "BLACKBOX_REMOTE_WRITE_SIGV4_REGION";
pub const TOKEN_VAR: &str = "BLACKBOX_REMOTE_WRITE_TOKEN";
pub const TOKEN_FILE_VAR: &str = "BLACKBOX_REMOTE_WRITE_TOKEN_FILE";
pub const USERNAME_VAR: &str = "BLACKBOX_REMOTE_WRITE_USERNAME";
pub const PASSWORD_VAR: &str = "BLACKBOX_REMOTE_WRITE_PASSWORD";
pub const PASSWORD_FILE_VAR: &str = "BLACKBOX_REMOTE_WRITE_PASSWORD_FILE";
pub const JOB_VAR: &str = "BLACKBOX_PUSH_JOB";
pub const LABELS_VAR: &str = "BLACKBOX_PUSH_LABELS";
pub const TARGETS_FILE_VAR: &str = "BLACKBOX_PUSH_TARGETS_FILE";
pub const CONCURRENCY_VAR: &str = "BLACKBOX_PUSH_CONCURRENCY";
pub const EVERY_VAR: &str = "BLACKBOX_PUSH_EVERY";
const AWS_REGION_VAR: &str = "AWS_REGION";
const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN_VAR: &str = "AWS_SESSION_TOKEN";

/// Probes at once when the setting is not given: blackbox runs each in a goroutine of a few
/// hundred KiB, so 32 fit the smallest function, and 200 one-second probes take 7 rounds.
pub const DEFAULT_CONCURRENCY: usize = 32;
const MAX_CONCURRENCY: usize = 256;

/// The labels push mode sets itself; `BLACKBOX_PUSH_LABELS` may not set them.
const OWN_LABELS: [&str; 4] = ["job", "instance", "module", "region"];

/// How the remote-write requests are authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteWriteAuth {
    /// SigV4 for Amazon Managed Service for Prometheus (service `aps`), with the function's
    /// own credentials from its environment.
    SigV4 {
        region: String,
        credentials: AwsCredentials,
    },
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
    None,
}

/// The function's own credentials, as Lambda puts them in its environment for the
/// execution role; `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    pub url: Url,
    pub auth: RemoteWriteAuth,
    /// The `job` label of every series.
    pub job: String,
    /// `region`: where the probes run (AWS_REGION).
    pub region: String,
    /// BLACKBOX_PUSH_LABELS, in the order given.
    pub labels: Vec<(String, String)>,
    /// The targets file's entries, probed when the event lists no probes.
    pub targets_file: Option<Vec<Target>>,
    /// How many probes run at once.
    pub concurrency: usize,
    /// BLACKBOX_PUSH_EVERY: rounds this far apart within each scheduled minute.
    pub every: Option<std::time::Duration>,
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_labels(text: &str) -> Result<Vec<(String, String)>, SettingsError> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| SettingsError::new(LABELS_VAR, format!("{pair:?} is not name=value")))?;
        let (name, value) = (name.trim(), value.trim());
        if !is_label_name(name) || name.starts_with("__") {
            return Err(SettingsError::new(
                LABELS_VAR,
                format!("{name:?} is not a label name"),
            ));
        }
        if OWN_LABELS.contains(&name) {
            return Err(SettingsError::new(
                LABELS_VAR,
                format!("{name:?} is set by push mode itself (job, instance, module, region)"),
            ));
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(SettingsError::new(
                LABELS_VAR,
                format!("{name:?} is given twice"),
            ));
        }
        labels.push((name.to_string(), value.to_string()));
    }
    Ok(labels)
}

impl PushSettings {
    pub fn from_env() -> Result<Option<Self>, SettingsError> {
        Self::from_environment(&Environment::process())
    }

    /// Whether the requests carry a bearer token or a password (SigV4 sends neither).
    pub fn sends_a_secret(&self) -> bool {
        matches!(
            self.auth,
            RemoteWriteAuth::Bearer(_) | RemoteWriteAuth::Basic { .. }
        )
    }

    /// `None` when BLACKBOX_REMOTE_WRITE_URL is not set: the function only answers scrapes.
    pub fn from_environment(env: &Environment) -> Result<Option<Self>, SettingsError> {
        let non_empty = |name: &str| env.non_empty(name);
        let Some(url_text) = non_empty(REMOTE_WRITE_URL_VAR) else {
            return Ok(None);
        };
        // The value is not quoted back: a URL may carry a password.
        let url = Url::parse(&url_text).map_err(|e| {
            // url reads host names in ASCII only (the bootstrap carries no IDNA tables).
            let hint = if e == url::ParseError::IdnaError {
                " (write a non-ASCII host name in its punycode form, xn--…)"
            } else {
                ""
            };
            SettingsError::new(REMOTE_WRITE_URL_VAR, format!("not a URL: {e}{hint}"))
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SettingsError::new(
                REMOTE_WRITE_URL_VAR,
                format!(
                    "put no credentials in the URL: use {REMOTE_WRITE_AUTH_VAR}=basic or bearer"
                ),
            ));
        }
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(SettingsError::new(
                REMOTE_WRITE_URL_VAR,
                format!("the scheme {:?} is not http or https", url.scheme()),
            ));
        }
        let region = non_empty(AWS_REGION_VAR).ok_or_else(|| {
            SettingsError::new(
                AWS_REGION_VAR,
                "is not set (Lambda sets it): push mode labels each series with it",
            )
        })?;
        let auth = match non_empty(REMOTE_WRITE_AUTH_VAR).as_deref() {
            Some("sigv4") => RemoteWriteAuth::SigV4 {
                region: non_empty(SIGV4_REGION_VAR)
                    .or_else(|| workspace_region(&url))
                    .unwrap_or_else(|| region.clone()),
                credentials: credentials(env)?,
            },
            Some("bearer") => RemoteWriteAuth::Bearer(
                env.secret(SecretKind::Token, TOKEN_VAR, TOKEN_FILE_VAR)?.ok_or_else(|| {
                    SettingsError::new(TOKEN_VAR, format!("{REMOTE_WRITE_AUTH_VAR}=bearer needs {TOKEN_VAR} or {TOKEN_FILE_VAR}"))
                })?,
            ),
            Some("basic") => RemoteWriteAuth::Basic {
                username: basic_username(non_empty(USERNAME_VAR))?,
                password: env.secret(SecretKind::Password, PASSWORD_VAR, PASSWORD_FILE_VAR)?.ok_or_else(|| {
                    SettingsError::new(PASSWORD_VAR, format!("{REMOTE_WRITE_AUTH_VAR}=basic needs {PASSWORD_VAR} or {PASSWORD_FILE_VAR}"))
                })?,
            },
            Some("none") => RemoteWriteAuth::None,
            Some(other) => {
                return Err(SettingsError::new(
                    REMOTE_WRITE_AUTH_VAR,
                    format!("{other:?} is not sigv4, bearer, basic or none"),
                ))
            }
            None => {
                return Err(SettingsError::new(
                    REMOTE_WRITE_AUTH_VAR,
                    format!("is not set: with {REMOTE_WRITE_URL_VAR}, say how to authorise: sigv4, bearer, basic or none"),
                ))
            }
        };
        let job = non_empty(JOB_VAR).unwrap_or_else(|| "lambda-blackbox".to_string());
        let labels = parse_labels(&env.raw(LABELS_VAR).unwrap_or_default())?;
        let concurrency = match non_empty(CONCURRENCY_VAR) {
            None => DEFAULT_CONCURRENCY,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
                .ok_or_else(|| {
                    SettingsError::new(
                        CONCURRENCY_VAR,
                        format!("{text:?} is not a whole number from 1 to {MAX_CONCURRENCY}"),
                    )
                })?,
        };
        let every = non_empty(EVERY_VAR)
            .map(|text| {
                text.strip_suffix('s')
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| (5..=60).contains(n))
                    .map(std::time::Duration::from_secs)
                    .ok_or_else(|| {
                        SettingsError::new(
                            EVERY_VAR,
                            format!(
                                "{text:?} is not a number of seconds from 5s to 60s (e.g. 15s)"
                            ),
                        )
                    })
            })
            .transpose()?;
        Ok(Some(Self {
            url,
            auth,
            job,
            region,
            labels,
            targets_file: non_empty(TARGETS_FILE_VAR)
                .map(|path| targets_file(env, &path))
                .transpose()?,
            concurrency,
            every,
        }))
    }
}

fn targets_file(env: &Environment, path: &str) -> Result<Vec<Target>, SettingsError> {
    let text = env
        .read_file(path)
        .map_err(|e| SettingsError::new(TARGETS_FILE_VAR, format!("cannot read {path}: {e}")))?;
    let targets = parse_targets(&text)
        .map_err(|e| SettingsError::new(TARGETS_FILE_VAR, format!("{path}: {e}")))?;
    crate::refuse_twice(targets, |i| format!("{path}: entry {}", i + 1))
        .map_err(|e| SettingsError::new(TARGETS_FILE_VAR, e))
}

/// RFC 7617: the user name is what comes before the first colon of the decoded pair.
fn basic_username(name: Option<String>) -> Result<String, SettingsError> {
    let name = name.map(|n| n.trim().to_string()).ok_or_else(|| {
        SettingsError::new(
            USERNAME_VAR,
            format!("{REMOTE_WRITE_AUTH_VAR}=basic needs a user name"),
        )
    })?;
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err(SettingsError::new(
            USERNAME_VAR,
            format!("{name:?} cannot be a basic-auth user name: no colon, no control character"),
        ));
    }
    Ok(name)
}

/// The region of an Amazon Managed Service for Prometheus workspace URL
/// (`aps-workspaces.<region>.amazonaws.com`): a fleet in many regions writes to one
/// workspace, and signs for the workspace's region, not its own.
fn workspace_region(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let region = host
        .strip_prefix("aps-workspaces.")?
        .strip_suffix(".amazonaws.com")
        .or_else(|| {
            host.strip_prefix("aps-workspaces.")?
                .strip_suffix(".amazonaws.com.cn")
        })?;
    let is_region = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    is_region.then(|| region.to_string())
}

/// The execution role's credentials from the environment (Lambda always sets them).
fn credentials(env: &Environment) -> Result<AwsCredentials, SettingsError> {
    let needed = |name: &'static str| {
        env.non_empty(name).ok_or_else(|| {
            SettingsError::new(
                name,
                format!("is not set: {REMOTE_WRITE_AUTH_VAR}=sigv4 signs with the function's credentials (Lambda sets them)"),
            )
        })
    };
    Ok(AwsCredentials {
        access_key_id: needed(ACCESS_KEY_VAR)?,
        secret_access_key: Secret::new(needed(SECRET_KEY_VAR)?),
        session_token: env.non_empty(SESSION_TOKEN_VAR).map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<PushSettings>, String> {
        let files = [
            ("/run/secret", "file-s3cret\n"),
            (
                "/var/task/targets.txt",
                "# probed each minute\nhttps://example.com\nexample.com:443 tls\n",
            ),
            ("/var/task/empty.txt", "# nothing yet\n"),
            ("/var/task/bad.txt", "a b c\n"),
            (
                "/var/task/twice.txt",
                "https://a.example\nhttps://a.example http_2xx\n",
            ),
        ];
        PushSettings::from_environment(&Environment::from_pairs(vars, &files))
            .map_err(|e| e.to_string())
    }

    const BASE: [(&str, &str); 5] = [
        (
            "BLACKBOX_REMOTE_WRITE_URL",
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "s3cret-key"),
        ("AWS_SESSION_TOKEN", "s3cret-session"),
    ];

    fn credentials() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("s3cret-key".into()),
            session_token: Some(Secret::new("s3cret-session".into())),
        }
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = BASE.to_vec();
        vars.extend_from_slice(extra);
        vars
    }

    /// As every setting is read: a console that keeps a trailing newline breaks no signature.
    #[test]
    fn the_credentials_are_read_without_the_spaces_around_them() {
        let mut vars: Vec<(&str, &str)> = BASE[..2].to_vec();
        vars.extend([
            ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4"),
            ("AWS_ACCESS_KEY_ID", " ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cret-key\n"),
            ("AWS_SESSION_TOKEN", " s3cret-session "),
        ]);
        let auth = read(&vars).unwrap().unwrap().auth;
        assert_eq!(
            auth,
            RemoteWriteAuth::SigV4 {
                region: "eu-west-1".into(),
                credentials: credentials(),
            }
        );
    }

    #[test]
    fn without_a_url_there_is_no_push_mode() {
        assert_eq!(read(&[("AWS_REGION", "eu-west-1")]), Ok(None));
        assert_eq!(read(&[("BLACKBOX_REMOTE_WRITE_URL", "  ")]), Ok(None));
    }

    #[test]
    fn each_auth_is_read() {
        let sigv4 = read(&with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            sigv4.auth,
            RemoteWriteAuth::SigV4 {
                region: "eu-west-1".into(),
                credentials: credentials(),
            }
        );
        assert!(!format!("{sigv4:?}").contains("s3cret"), "{sigv4:?}");
        assert_eq!(sigv4.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(
            (sigv4.job.as_str(), sigv4.region.as_str()),
            ("lambda-blackbox", "eu-west-1")
        );
        let other_region = read(&with(&[
            ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4"),
            ("BLACKBOX_REMOTE_WRITE_SIGV4_REGION", "us-east-1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            other_region.auth,
            RemoteWriteAuth::SigV4 {
                region: "us-east-1".into(),
                credentials: credentials(),
            }
        );
        // The workspace's region, when the URL names one and the setting does not.
        let elsewhere = read(&[
            (
                "BLACKBOX_REMOTE_WRITE_URL",
                "https://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
            ),
            BASE[1],
            BASE[2],
            BASE[3],
            ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4"),
        ])
        .unwrap()
        .unwrap();
        assert!(
            matches!(&elsewhere.auth, RemoteWriteAuth::SigV4 { region, .. } if region == "ap-southeast-2"),
            "{elsewhere:?}"
        );
        assert_eq!(
            elsewhere.region, "eu-west-1",
            "the series keep the function's region"
        );
        let own = read(&[
            (
                "BLACKBOX_REMOTE_WRITE_URL",
                "https://mimir.example/api/v1/push",
            ),
            BASE[1],
            BASE[2],
            BASE[3],
            ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4"),
        ])
        .unwrap()
        .unwrap();
        assert!(
            matches!(&own.auth, RemoteWriteAuth::SigV4 { region, .. } if region == "eu-west-1"),
            "{own:?}"
        );
        let bearer = read(&with(&[
            ("BLACKBOX_REMOTE_WRITE_AUTH", "bearer"),
            ("BLACKBOX_REMOTE_WRITE_TOKEN_FILE", "/run/secret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            bearer.auth,
            RemoteWriteAuth::Bearer(Secret::new("file-s3cret".into()))
        );
        let basic = read(&with(&[
            ("BLACKBOX_REMOTE_WRITE_AUTH", "basic"),
            ("BLACKBOX_REMOTE_WRITE_USERNAME", "12345"),
            ("BLACKBOX_REMOTE_WRITE_PASSWORD", "glc_s3cret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            basic.auth,
            RemoteWriteAuth::Basic {
                username: "12345".into(),
                password: Secret::new("glc_s3cret".into())
            }
        );
        assert!(
            !format!("{basic:?}{bearer:?}").contains("s3cret"),
            "no secret in Debug"
        );
        // Basic auth sends the password base64-encoded: spaces and UTF-8 travel.
        let spaced = read(&with(&[
            ("BLACKBOX_REMOTE_WRITE_AUTH", "basic"),
            ("BLACKBOX_REMOTE_WRITE_USERNAME", "12345"),
            ("BLACKBOX_REMOTE_WRITE_PASSWORD", "correct horse wörd\n"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            spaced.auth,
            RemoteWriteAuth::Basic {
                username: "12345".into(),
                password: Secret::new("correct horse wörd".into())
            }
        );
        let none = read(&with(&[
            ("BLACKBOX_REMOTE_WRITE_AUTH", "none"),
            ("BLACKBOX_PUSH_JOB", "synthetics"),
            ("BLACKBOX_PUSH_LABELS", "team=sre, env = prod"),
            ("BLACKBOX_PUSH_TARGETS_FILE", "/var/task/targets.txt"),
            ("BLACKBOX_PUSH_CONCURRENCY", "64"),
            ("BLACKBOX_PUSH_EVERY", "15s"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(none.job, "synthetics");
        assert_eq!(
            none.labels,
            [("team".into(), "sre".into()), ("env".into(), "prod".into())]
        );
        assert_eq!(
            none.targets_file,
            Some(vec![
                Target {
                    target: "https://example.com".into(),
                    module: None
                },
                Target {
                    target: "example.com:443".into(),
                    module: Some("tls".into())
                }
            ])
        );
        assert_eq!(none.concurrency, 64);
        assert_eq!(none.every, Some(std::time::Duration::from_secs(15)));
        assert_eq!(sigv4.every, None);
    }

    #[test]
    fn bad_settings_name_their_variable() {
        let url = "BLACKBOX_REMOTE_WRITE_URL";
        for (vars, want) in [
            (vec![(url, "ftp://x/"), ("AWS_REGION", "r"), ("BLACKBOX_REMOTE_WRITE_AUTH", "none")],
             "BLACKBOX_REMOTE_WRITE_URL: the scheme \"ftp\" is not http or https"),
            (vec![(url, "not a url"), ("AWS_REGION", "r")],
             "BLACKBOX_REMOTE_WRITE_URL: not a URL: relative URL without a base"),
            (vec![(url, "https://mimir.bücher.example/api/v1/push"), ("AWS_REGION", "r")],
             "BLACKBOX_REMOTE_WRITE_URL: not a URL: invalid international domain name (write a non-ASCII host name in its punycode form, xn--…)"),
            (vec![(url, "ftp://u:s3cret@x/"), ("AWS_REGION", "r")],
             "BLACKBOX_REMOTE_WRITE_URL: put no credentials in the URL: use BLACKBOX_REMOTE_WRITE_AUTH=basic or bearer"),
            (vec![(url, "https://u:p@x/"), ("AWS_REGION", "r")],
             "BLACKBOX_REMOTE_WRITE_URL: put no credentials in the URL: use BLACKBOX_REMOTE_WRITE_AUTH=basic or bearer"),
            (vec![(url, "https://x/")],
             "AWS_REGION: is not set (Lambda sets it): push mode labels each series with it"),
            (with(&[]),
             "BLACKBOX_REMOTE_WRITE_AUTH: is not set: with BLACKBOX_REMOTE_WRITE_URL, say how to authorise: sigv4, bearer, basic or none"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "oauth")]),
             "BLACKBOX_REMOTE_WRITE_AUTH: \"oauth\" is not sigv4, bearer, basic or none"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "bearer")]),
             "BLACKBOX_REMOTE_WRITE_TOKEN: BLACKBOX_REMOTE_WRITE_AUTH=bearer needs BLACKBOX_REMOTE_WRITE_TOKEN or BLACKBOX_REMOTE_WRITE_TOKEN_FILE"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "bearer"), ("BLACKBOX_REMOTE_WRITE_TOKEN", "a"), ("BLACKBOX_REMOTE_WRITE_TOKEN_FILE", "/run/secret")]),
             "BLACKBOX_REMOTE_WRITE_TOKEN_FILE: set either BLACKBOX_REMOTE_WRITE_TOKEN or BLACKBOX_REMOTE_WRITE_TOKEN_FILE, not both"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "bearer"), ("BLACKBOX_REMOTE_WRITE_TOKEN_FILE", "/nope")]),
             "BLACKBOX_REMOTE_WRITE_TOKEN_FILE: cannot read /nope: No such file or directory"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "bearer"), ("BLACKBOX_REMOTE_WRITE_TOKEN", "two words")]),
             "BLACKBOX_REMOTE_WRITE_TOKEN: the token must be printable ASCII without spaces (it travels in an HTTP header)"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "basic"), ("BLACKBOX_REMOTE_WRITE_PASSWORD", "p")]),
             "BLACKBOX_REMOTE_WRITE_USERNAME: BLACKBOX_REMOTE_WRITE_AUTH=basic needs a user name"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "basic"), ("BLACKBOX_REMOTE_WRITE_USERNAME", "u")]),
             "BLACKBOX_REMOTE_WRITE_PASSWORD: BLACKBOX_REMOTE_WRITE_AUTH=basic needs BLACKBOX_REMOTE_WRITE_PASSWORD or BLACKBOX_REMOTE_WRITE_PASSWORD_FILE"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "basic"), ("BLACKBOX_REMOTE_WRITE_USERNAME", "u:v"), ("BLACKBOX_REMOTE_WRITE_PASSWORD", "p")]),
             "BLACKBOX_REMOTE_WRITE_USERNAME: \"u:v\" cannot be a basic-auth user name: no colon, no control character"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "basic"), ("BLACKBOX_REMOTE_WRITE_USERNAME", "u"), ("BLACKBOX_REMOTE_WRITE_PASSWORD", "line\nbreak")]),
             "BLACKBOX_REMOTE_WRITE_PASSWORD: the password has a control character (a line break inside it?)"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_LABELS", "team")]),
             "BLACKBOX_PUSH_LABELS: \"team\" is not name=value"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_LABELS", "1team=x")]),
             "BLACKBOX_PUSH_LABELS: \"1team\" is not a label name"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_LABELS", "__name__=x")]),
             "BLACKBOX_PUSH_LABELS: \"__name__\" is not a label name"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_LABELS", "region=x")]),
             "BLACKBOX_PUSH_LABELS: \"region\" is set by push mode itself (job, instance, module, region)"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_LABELS", "a=1,a=2")]),
             "BLACKBOX_PUSH_LABELS: \"a\" is given twice"),
            (vec![BASE[0], BASE[1], ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4")],
             "AWS_ACCESS_KEY_ID: is not set: BLACKBOX_REMOTE_WRITE_AUTH=sigv4 signs with the function's credentials (Lambda sets them)"),
            (vec![BASE[0], BASE[1], BASE[2], ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4")],
             "AWS_SECRET_ACCESS_KEY: is not set: BLACKBOX_REMOTE_WRITE_AUTH=sigv4 signs with the function's credentials (Lambda sets them)"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_TARGETS_FILE", "/nope")]),
             "BLACKBOX_PUSH_TARGETS_FILE: cannot read /nope: No such file or directory"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_TARGETS_FILE", "/var/task/empty.txt")]),
             "BLACKBOX_PUSH_TARGETS_FILE: /var/task/empty.txt: no targets"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_TARGETS_FILE", "/var/task/bad.txt")]),
             "BLACKBOX_PUSH_TARGETS_FILE: /var/task/bad.txt: line 1: expected TARGET [MODULE], got \"a b c\""),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_TARGETS_FILE", "/var/task/twice.txt")]),
             "BLACKBOX_PUSH_TARGETS_FILE: /var/task/twice.txt: entry 2: https://a.example with module http_2xx is listed already, as /var/task/twice.txt: entry 1"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_EVERY", "15")]),
             "BLACKBOX_PUSH_EVERY: \"15\" is not a number of seconds from 5s to 60s (e.g. 15s)"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_EVERY", "1s")]),
             "BLACKBOX_PUSH_EVERY: \"1s\" is not a number of seconds from 5s to 60s (e.g. 15s)"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_CONCURRENCY", "0")]),
             "BLACKBOX_PUSH_CONCURRENCY: \"0\" is not a whole number from 1 to 256"),
            (with(&[("BLACKBOX_REMOTE_WRITE_AUTH", "none"), ("BLACKBOX_PUSH_CONCURRENCY", "lots")]),
             "BLACKBOX_PUSH_CONCURRENCY: \"lots\" is not a whole number from 1 to 256"),
        ] {
            assert_eq!(read(&vars).unwrap_err(), want);
        }
    }

    /// The cases the CDK app's reader is tested against too (deploy/cdk/test/push.test.ts).
    #[test]
    fn the_targets_file_cases_shared_with_the_cdk_app() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/targets-file-cases.json"
        );
        let cases: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for case in cases["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let text = case["text"].as_str().unwrap().to_string();
            let env = Environment::from_pairs(&[], &[("targets.txt", &text)]);
            let read = targets_file(&env, "targets.txt");
            match (&case["probes"], case["error"].as_str()) {
                (serde_json::Value::Array(want), None) => {
                    let got = read.unwrap_or_else(|e| panic!("{name}: {e}"));
                    let got: Vec<(String, Option<String>)> =
                        got.into_iter().map(|t| (t.target, t.module)).collect();
                    let want: Vec<(String, Option<String>)> = want
                        .iter()
                        .map(|p| {
                            let module = p["module"].as_str().map(str::to_string);
                            (p["target"].as_str().unwrap().to_string(), module)
                        })
                        .collect();
                    assert_eq!(got, want, "{name}");
                }
                (_, Some(want)) => {
                    let error = read.expect_err(name).to_string();
                    assert!(error.contains(want), "{name}: {error}");
                }
                _ => panic!("{name}: a case has probes or an error"),
            }
        }
    }
}

//! Which invocations are push runs, and what they probe: an EventBridge Scheduler input
//! (`{"probes": [{"target": "…", "module": "…"}]}`) or an EventBridge rule's
//! `Scheduled Event` (its `detail` may carry `probes` too); without probes, the targets
//! file (BLACKBOX_PUSH_TARGETS_FILE). Anything else is an HTTP event for the gate.

use lambda_blackbox_contract::targets_file::Target;
use lambda_blackbox_push::{refuse_twice, PushRun};
use serde_json::Value;

/// `None` for an event that is not a push run. An event that is one but lists its probes
/// wrongly is an error saying which entry and why.
pub fn push_run(event: &Value) -> Option<Result<PushRun, String>> {
    let object = event.as_object()?;
    let scheduled = object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        && object.get("source").and_then(Value::as_str) == Some("aws.events");
    let probes = if scheduled {
        object.get("detail").and_then(|d| d.get("probes"))
    } else {
        Some(object.get("probes")?)
    };
    Some(match probes {
        // `"probes": null` in a Scheduler input asks for the targets file too.
        None | Some(Value::Null) => Ok(PushRun::TargetsFile),
        Some(list) => probes_of(list).map(PushRun::Probes),
    })
}

fn probes_of(list: &Value) -> Result<Vec<Target>, String> {
    let entries = list
        .as_array()
        .ok_or_else(|| format!("probes: {list} is not a list"))?;
    if entries.is_empty() {
        return Err("probes: the list is empty".into());
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = |name: &str| match entry.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Some(other) => Err(format!(
                    "probes[{i}]: {name} {other} is not a non-empty string"
                )),
            };
            if !entry.is_object() {
                return Err(format!("probes[{i}]: {entry} is not an object"));
            }
            let target = field("target")?.ok_or_else(|| format!("probes[{i}]: no target"))?;
            Ok(Target {
                target,
                module: field("module")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .and_then(|probes| refuse_twice(probes, |i| format!("probes[{i}]")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(t: &str, m: Option<&str>) -> Target {
        Target {
            target: t.into(),
            module: m.map(str::to_string),
        }
    }

    #[test]
    fn scheduler_input_and_scheduled_events_are_push_runs() {
        let input = json!({"probes": [{"target": "https://example.com"}, {"target": "example.com:443", "module": "tls"}]});
        assert_eq!(
            push_run(&input),
            Some(Ok(PushRun::Probes(vec![
                target("https://example.com", None),
                target("example.com:443", Some("tls"))
            ])))
        );
        let rule = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
                          "account": "123456789012", "time": "2026-12-02T00:00:00Z", "region": "eu-west-1",
                          "resources": ["arn:aws:events:eu-west-1:123456789012:rule/probe"], "detail": {}});
        assert_eq!(push_run(&rule), Some(Ok(PushRun::TargetsFile)));
        assert_eq!(
            push_run(&json!({"probes": null})),
            Some(Ok(PushRun::TargetsFile))
        );
        let rule_with = json!({"detail-type": "Scheduled Event", "source": "aws.events",
                               "detail": {"probes": [{"target": "a.example:22", "module": "tcp_connect"}]}});
        assert_eq!(
            push_run(&rule_with),
            Some(Ok(PushRun::Probes(vec![target(
                "a.example:22",
                Some("tcp_connect")
            )])))
        );
    }

    #[test]
    fn http_events_are_not_push_runs() {
        for event in [
            json!({"version": "2.0", "rawPath": "/probe", "requestContext": {"http": {"method": "GET"}}}),
            json!({"httpMethod": "GET", "path": "/probe"}),
            json!({"detail-type": "Scheduled Event", "source": "not.aws.events"}),
            json!([]),
            json!("probes"),
        ] {
            assert_eq!(push_run(&event), None, "{event}");
        }
    }

    #[test]
    fn a_wrong_probe_list_names_the_entry() {
        for (probes, want) in [
            (json!("x"), "probes: \"x\" is not a list"),
            (json!([]), "probes: the list is empty"),
            (json!([{"module": "tls"}]), "probes[0]: no target"),
            (json!([{"target": "a"}, 3]), "probes[1]: 3 is not an object"),
            (
                json!([{"target": " "}]),
                "probes[0]: target \" \" is not a non-empty string",
            ),
            (
                json!([{"target": "a", "module": 7}]),
                "probes[0]: module 7 is not a non-empty string",
            ),
            (
                json!([{"target": "a"}, {"target": "b"}, {"target": "a", "module": "http_2xx"}]),
                "probes[2]: a with module http_2xx is listed already, as probes[0]",
            ),
        ] {
            assert_eq!(
                push_run(&json!({ "probes": probes })),
                Some(Err(want.to_string()))
            );
        }
    }
}

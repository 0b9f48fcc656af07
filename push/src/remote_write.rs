//! Prometheus remote-write 1.0: the series of one probe as Prometheus would have stored
//! them had it scraped blackbox (its samples plus `up` and `scrape_duration_seconds`, with
//! the target's labels), and the request bodies: a protobuf `WriteRequest`, snappy
//! block-compressed, split so that no body is larger than a receiver takes at once.

use prost::Message;

use super::exposition::read_samples;

/// `prometheus/prompb/remote.proto` and `types.proto`, the fields remote-write 1.0 sends.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Sorted by name, names unique: receivers (Prometheus among them) require it.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Above this many bytes of protobuf a request is split: well under the 10 MiB a
/// Prometheus receiver and Amazon Managed Service for Prometheus take, and small enough that
/// one retried request re-sends little.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

fn series(name: &str, labels: &[(String, String)], value: f64, timestamp: i64) -> TimeSeries {
    let mut all: Vec<Label> = labels
        .iter()
        .map(|(n, v)| Label {
            name: n.clone(),
            value: v.clone(),
        })
        .collect();
    all.push(Label {
        name: "__name__".into(),
        value: name.into(),
    });
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.dedup_by(|later, earlier| later.name == earlier.name);
    TimeSeries {
        labels: all,
        samples: vec![Sample { value, timestamp }],
    }
}

/// The series of a probe whose answer was `exposition` (blackbox's, in the protobuf
/// format), at `timestamp` ms, with the target's labels (`job`, `instance`, `module`,
/// `region`, …), which win over a sample's own labels of the same name: as with
/// `honor_labels: false`, the sample's is kept as `exported_<name>`.
pub fn probe_series(
    exposition: &[u8],
    target: &[(String, String)],
    timestamp: i64,
    scrape_duration_s: f64,
) -> Result<Vec<TimeSeries>, String> {
    let mut out = Vec::new();
    for sample in read_samples(exposition)? {
        let mut labels: Vec<(String, String)> = target.to_vec();
        for (name, value) in sample.labels {
            let mut name = name;
            while labels.iter().any(|(n, _)| *n == name) {
                name = format!("exported_{name}");
            }
            labels.push((name, value));
        }
        let at = sample.timestamp_ms.unwrap_or(timestamp);
        out.push(series(&sample.name, &labels, sample.value, at));
    }
    out.extend(up_series(target, true, timestamp, scrape_duration_s));
    Ok(out)
}

/// `up` and `scrape_duration_seconds`, as Prometheus adds them to every scrape (a failed one
/// has only these, with `up` 0).
pub fn up_series(
    target: &[(String, String)],
    up: bool,
    timestamp: i64,
    duration_s: f64,
) -> Vec<TimeSeries> {
    vec![
        series("up", target, if up { 1.0 } else { 0.0 }, timestamp),
        series("scrape_duration_seconds", target, duration_s, timestamp),
    ]
}

/// One request's body: a snappy-compressed `WriteRequest`, and how many samples it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBody {
    pub bytes: Vec<u8>,
    pub samples: usize,
}

/// The request bodies for `series`, each of at most `max_bytes` of protobuf before
/// compression (a single series larger than that goes alone).
pub fn request_bodies(series: Vec<TimeSeries>, max_bytes: usize) -> Vec<RequestBody> {
    let mut bodies = Vec::new();
    let mut batch = WriteRequest::default();
    let mut size = 0;
    for one in series {
        // A repeated field's entry: its length, its tag byte and its length prefix.
        let len = one.encoded_len();
        let entry = len + 1 + prost::length_delimiter_len(len);
        if size + entry > max_bytes && !batch.timeseries.is_empty() {
            bodies.push(compress(&batch));
            batch = WriteRequest::default();
            size = 0;
        }
        size += entry;
        batch.timeseries.push(one);
    }
    if !batch.timeseries.is_empty() {
        bodies.push(compress(&batch));
    }
    bodies
}

fn compress(request: &WriteRequest) -> RequestBody {
    RequestBody {
        bytes: snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            // Only an input over 4 GiB fails, and a body is split at MAX_REQUEST_BYTES.
            .unwrap_or_default(),
        samples: request.timeseries.iter().map(|s| s.samples.len()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::exposition::tests::{delimited, gauge};
    use crate::exposition::{Bucket, Histogram, Metric, MetricFamily, MetricType};

    fn blackbox() -> Vec<u8> {
        let histogram = MetricFamily {
            name: "probe_dns_lookup_time_seconds".into(),
            r#type: MetricType::Histogram as i32,
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count: 4,
                    sample_sum: 0.02,
                    bucket: vec![Bucket {
                        upper_bound: 0.005,
                        cumulative_count: 3,
                        ..Bucket::default()
                    }],
                    ..Histogram::default()
                }),
                ..Metric::default()
            }],
        };
        delimited(&[
            gauge("probe_success", &[], 1.0),
            gauge(
                "probe_http_duration_seconds",
                &[("phase", "connect")],
                0.000123,
            ),
            gauge(
                "probe_http_duration_seconds",
                &[("phase", "resolve")],
                1.1e-05,
            ),
            histogram,
            gauge("instance_like", &[("instance", "from-blackbox")], 2.0),
        ])
    }

    fn target() -> Vec<(String, String)> {
        [
            ("job", "lambda-blackbox"),
            ("instance", "https://example.com"),
            ("module", "http_2xx"),
            ("region", "eu-west-1"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    fn decode(body: &[u8]) -> WriteRequest {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(body)
            .expect("snappy");
        WriteRequest::decode(raw.as_slice()).expect("a WriteRequest")
    }

    fn find<'a>(all: &'a [TimeSeries], name: &str, label: Option<(&str, &str)>) -> &'a TimeSeries {
        all.iter()
            .find(|s| {
                s.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == name)
                    && label
                        .is_none_or(|(n, v)| s.labels.iter().any(|l| l.name == n && l.value == v))
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} in {all:?}"))
    }

    #[test]
    fn a_probe_is_its_samples_plus_up_and_scrape_duration_with_the_targets_labels() {
        let all = probe_series(&blackbox(), &target(), 1_700_000_000_123, 0.25).unwrap();
        let success = find(&all, "probe_success", None);
        let names: Vec<&str> = success.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["__name__", "instance", "job", "module", "region"],
            "sorted, unique"
        );
        assert_eq!(
            success.samples,
            [Sample {
                value: 1.0,
                timestamp: 1_700_000_000_123
            }]
        );
        assert_eq!(
            find(
                &all,
                "probe_http_duration_seconds",
                Some(("phase", "resolve"))
            )
            .samples[0]
                .value,
            1.1e-05
        );
        assert_eq!(
            find(
                &all,
                "probe_dns_lookup_time_seconds_bucket",
                Some(("le", "+Inf"))
            )
            .samples[0]
                .value,
            4.0
        );
        assert_eq!(
            find(
                &all,
                "probe_dns_lookup_time_seconds_bucket",
                Some(("le", "0.005"))
            )
            .samples[0]
                .value,
            3.0
        );
        assert_eq!(
            find(&all, "probe_dns_lookup_time_seconds_count", None).samples[0].value,
            4.0
        );
        assert_eq!(find(&all, "up", None).samples[0].value, 1.0);
        assert_eq!(
            find(&all, "scrape_duration_seconds", None).samples[0].value,
            0.25
        );
        // The target's instance wins over the sample's own, which is kept as exported_,
        // as a scrape without honor_labels does.
        let clash = find(
            &all,
            "instance_like",
            Some(("exported_instance", "from-blackbox")),
        );
        assert!(
            clash
                .labels
                .iter()
                .any(|l| l.name == "instance" && l.value == "https://example.com"),
            "{clash:?}"
        );
        assert_eq!(
            clash.labels.iter().filter(|l| l.name == "instance").count(),
            1
        );
    }

    #[test]
    fn a_failed_probe_is_up_zero_and_its_duration() {
        let all = up_series(&target(), false, 5, 1.5);
        assert_eq!(all.len(), 2);
        assert_eq!(find(&all, "up", None).samples[0].value, 0.0);
    }

    #[test]
    fn bodies_are_snappy_protobuf_and_split_by_size() {
        let all: Vec<TimeSeries> = (0..200)
            .flat_map(|i| up_series(&[("instance".into(), format!("t{i}"))], true, i, 0.1))
            .collect();
        let one = request_bodies(all.clone(), MAX_REQUEST_BYTES);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].samples, 400);
        assert_eq!(decode(&one[0].bytes).timeseries, all);
        let split = request_bodies(all.clone(), 2_000);
        assert!(split.len() > 1);
        let mut back = Vec::new();
        for body in &split {
            let request = decode(&body.bytes);
            assert_eq!(body.samples, request.timeseries.len());
            assert!(request.encoded_len() <= 2_000, "{}", request.encoded_len());
            back.extend(request.timeseries);
        }
        assert_eq!(back, all, "nothing lost or reordered by the split");
        assert!(request_bodies(Vec::new(), 10).is_empty());
    }
}

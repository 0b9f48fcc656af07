//! blackbox's answer to a probe in the protobuf exposition format (`io.prometheus.client`
//! `metrics.proto`, length-delimited), decoded with prost, and read into samples as
//! Prometheus reads a classic (not native) scrape of it.
//!
//! Why protobuf and not the text format: blackbox speaks both, as every client_golang
//! exporter does, and decoding it needs only prost, which the remote-write side uses
//! anyway; a text-format parser would bring a regex engine into the bootstrap, and would
//! have to fail the scrape on a line it cannot read, as Prometheus does.

use prost::Message;

/// What the handler sends blackbox as `Accept`: the format Prometheus asks for first when
/// it scrapes in protobuf.
pub const PROTOBUF_ACCEPT: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

/// Whether a `Content-Type` is that format (blackbox 0.28 adds `escaping=underscores`).
pub fn is_protobuf_exposition(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    parts.next() == Some("application/vnd.google.protobuf")
        && parts.any(|p| p == "proto=io.prometheus.client.MetricFamily")
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricFamily {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(enumeration = "MetricType", tag = "3")]
    pub r#type: i32,
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Summary = 2,
    Untyped = 3,
    Histogram = 4,
    GaugeHistogram = 5,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Value>,
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Value>,
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Value>,
    #[prost(int64, tag = "6")]
    pub timestamp_ms: i64,
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `Gauge`, `Counter` and `Untyped` alike: the value is field 1 of each.
#[derive(Clone, PartialEq, Message)]
pub struct Value {
    #[prost(double, tag = "1")]
    pub value: f64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Quantile {
    #[prost(double, tag = "1")]
    pub quantile: f64,
    #[prost(double, tag = "2")]
    pub value: f64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    #[prost(uint64, tag = "1")]
    pub sample_count: u64,
    #[prost(double, tag = "2")]
    pub sample_sum: f64,
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// Set instead of `sample_count` by a float histogram.
    #[prost(double, tag = "4")]
    pub sample_count_float: f64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Bucket {
    #[prost(uint64, tag = "1")]
    pub cumulative_count: u64,
    #[prost(double, tag = "2")]
    pub upper_bound: f64,
    #[prost(double, tag = "4")]
    pub cumulative_count_float: f64,
}

/// One sample as a scrape stores it: its metric name, its own labels (`le` and `quantile`
/// among them), its value, and the exposition's own timestamp if it gave one.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposed {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// The samples of a length-delimited stream of `MetricFamily` messages. A histogram is its
/// `_bucket` series (with the `+Inf` bucket added when missing), `_sum` and `_count`; a
/// summary its quantiles, `_sum` and `_count`: as Prometheus stores a classic scrape.
pub fn read_samples(mut exposition: &[u8]) -> Result<Vec<Exposed>, String> {
    let mut out = Vec::new();
    while !exposition.is_empty() {
        let family = MetricFamily::decode_length_delimited(&mut exposition)
            .map_err(|e| format!("blackbox's answer is not the protobuf exposition format: {e}"))?;
        let kind = MetricType::try_from(family.r#type).map_err(|_| {
            format!(
                "blackbox's answer has metric {} of unknown type {}",
                family.name, family.r#type
            )
        })?;
        for metric in &family.metric {
            read_metric(&family.name, kind, metric, &mut out)?;
        }
    }
    Ok(out)
}

fn read_metric(
    name: &str,
    kind: MetricType,
    metric: &Metric,
    out: &mut Vec<Exposed>,
) -> Result<(), String> {
    let labels: Vec<(String, String)> = metric
        .label
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    let timestamp_ms = (metric.timestamp_ms != 0).then_some(metric.timestamp_ms);
    let mut push = |name: String, extra: Option<(&str, String)>, value: f64| {
        let mut labels = labels.clone();
        labels.extend(extra.map(|(n, v)| (n.to_string(), v)));
        out.push(Exposed {
            name,
            labels,
            value,
            timestamp_ms,
        });
    };
    let missing = || format!("blackbox's answer has {kind:?} metric {name} without its value");
    match kind {
        MetricType::Gauge => push(
            name.into(),
            None,
            metric.gauge.as_ref().ok_or_else(missing)?.value,
        ),
        MetricType::Counter => push(
            name.into(),
            None,
            metric.counter.as_ref().ok_or_else(missing)?.value,
        ),
        MetricType::Untyped => push(
            name.into(),
            None,
            metric.untyped.as_ref().ok_or_else(missing)?.value,
        ),
        MetricType::Summary => {
            let summary = metric.summary.as_ref().ok_or_else(missing)?;
            for q in &summary.quantile {
                push(
                    name.into(),
                    Some(("quantile", float_label(q.quantile))),
                    q.value,
                );
            }
            push(format!("{name}_sum"), None, summary.sample_sum);
            push(format!("{name}_count"), None, summary.sample_count as f64);
        }
        MetricType::Histogram | MetricType::GaugeHistogram => {
            let histogram = metric.histogram.as_ref().ok_or_else(missing)?;
            // A float histogram sets the float fields; Prometheus takes each one that is set.
            let either = |float: f64, integer: u64| {
                if float != 0.0 {
                    float
                } else {
                    integer as f64
                }
            };
            let count = either(histogram.sample_count_float, histogram.sample_count);
            let bucket_name = format!("{name}_bucket");
            for bucket in &histogram.bucket {
                let value = either(bucket.cumulative_count_float, bucket.cumulative_count);
                push(
                    bucket_name.clone(),
                    Some(("le", float_label(bucket.upper_bound))),
                    value,
                );
            }
            if histogram.bucket.last().map(|b| b.upper_bound) != Some(f64::INFINITY) {
                push(bucket_name, Some(("le", "+Inf".into())), count);
            }
            push(format!("{name}_sum"), None, histogram.sample_sum);
            push(format!("{name}_count"), None, count);
        }
    }
    Ok(())
}

/// A float label value (`le`, `quantile`) as Prometheus writes it when it reads a scrape
/// (its `formatOpenMetricsFloat`): Go's shortest `%g`, with `.0` when that has neither a
/// point nor an exponent, so that `le="1"` and `le="1.0"` are one series.
fn float_label(v: f64) -> String {
    match v {
        _ if v.is_nan() => return "NaN".into(),
        f64::INFINITY => return "+Inf".into(),
        f64::NEG_INFINITY => return "-Inf".into(),
        // Go's f == 0 holds for -0 too.
        0.0 => return "0.0".into(),
        _ => {}
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Go's %g with the shortest digits switches to an exponent below 1e-4 and from 1e6 on.
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let fixed = format!("{v}");
    if fixed.contains('.') {
        fixed
    } else {
        format!("{fixed}.0")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn gauge(name: &str, labels: &[(&str, &str)], value: f64) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            r#type: MetricType::Gauge as i32,
            metric: vec![Metric {
                label: labels
                    .iter()
                    .map(|(n, v)| LabelPair {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                gauge: Some(Value { value }),
                ..Metric::default()
            }],
        }
    }

    pub(crate) fn delimited(families: &[MetricFamily]) -> Vec<u8> {
        families
            .iter()
            .flat_map(|f| f.encode_length_delimited_to_vec())
            .collect()
    }

    fn histogram(buckets: &[(f64, u64)], count: u64, sum: f64) -> MetricFamily {
        MetricFamily {
            name: "probe_dns_lookup_time_seconds".into(),
            r#type: MetricType::Histogram as i32,
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count: count,
                    sample_sum: sum,
                    bucket: buckets
                        .iter()
                        .map(|(le, n)| Bucket {
                            upper_bound: *le,
                            cumulative_count: *n,
                            ..Bucket::default()
                        })
                        .collect(),
                    ..Histogram::default()
                }),
                ..Metric::default()
            }],
        }
    }

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Exposed {
        Exposed {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            value,
            timestamp_ms: None,
        }
    }

    #[test]
    fn gauges_histograms_and_summaries_read_as_a_classic_scrape_stores_them() {
        let summary = MetricFamily {
            name: "rpc".into(),
            r#type: MetricType::Summary as i32,
            metric: vec![Metric {
                summary: Some(Summary {
                    sample_count: 7,
                    sample_sum: 1.5,
                    quantile: vec![Quantile {
                        quantile: 0.5,
                        value: 0.2,
                    }],
                }),
                timestamp_ms: 1234,
                ..Metric::default()
            }],
        };
        let exposition = delimited(&[
            gauge("probe_success", &[], 1.0),
            gauge(
                "probe_http_duration_seconds",
                &[("phase", "connect")],
                1.1e-5,
            ),
            histogram(&[(0.005, 3)], 4, 0.02),
            histogram(&[(1.0, 1), (f64::INFINITY, 2)], 2, 0.5),
            summary,
        ]);
        let at = |mut s: Exposed, t| {
            s.timestamp_ms = Some(t);
            s
        };
        assert_eq!(
            read_samples(&exposition).unwrap(),
            [
                sample("probe_success", &[], 1.0),
                sample(
                    "probe_http_duration_seconds",
                    &[("phase", "connect")],
                    1.1e-5
                ),
                sample(
                    "probe_dns_lookup_time_seconds_bucket",
                    &[("le", "0.005")],
                    3.0
                ),
                sample(
                    "probe_dns_lookup_time_seconds_bucket",
                    &[("le", "+Inf")],
                    4.0
                ),
                sample("probe_dns_lookup_time_seconds_sum", &[], 0.02),
                sample("probe_dns_lookup_time_seconds_count", &[], 4.0),
                sample(
                    "probe_dns_lookup_time_seconds_bucket",
                    &[("le", "1.0")],
                    1.0
                ),
                sample(
                    "probe_dns_lookup_time_seconds_bucket",
                    &[("le", "+Inf")],
                    2.0
                ),
                sample("probe_dns_lookup_time_seconds_sum", &[], 0.5),
                sample("probe_dns_lookup_time_seconds_count", &[], 2.0),
                at(sample("rpc", &[("quantile", "0.5")], 0.2), 1234),
                at(sample("rpc_sum", &[], 1.5), 1234),
                at(sample("rpc_count", &[], 7.0), 1234),
            ]
        );
        assert_eq!(read_samples(&[]).unwrap(), []);
    }

    #[test]
    fn float_labels_are_written_as_prometheus_writes_them() {
        for (value, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (-1.0, "-1.0"),
            (10.0, "10.0"),
            (100.0, "100.0"),
            (123456.0, "123456.0"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.25, "0.25"),
            (2.5, "2.5"),
            (-0.5, "-0.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(float_label(value), want, "{value}");
        }
    }

    #[test]
    fn the_content_types_blackbox_answers_with() {
        for (content_type, protobuf) in [
            ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", true),
            ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores", true),
            ("text/plain; version=0.0.4; charset=utf-8", false),
            ("application/vnd.google.protobuf; proto=other.Message", false),
            ("", false),
        ] {
            assert_eq!(is_protobuf_exposition(content_type), protobuf, "{content_type}");
        }
    }

    #[test]
    fn an_answer_that_is_not_the_format_is_an_error_not_a_partial_read() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"probe_success 1\n",
                "blackbox's answer is not the protobuf exposition format: failed to decode Protobuf message: ",
            ),
            (
                &[0x05, 0x0a, 0x01],
                "blackbox's answer is not the protobuf exposition format: failed to decode Protobuf message: ",
            ),
        ];
        for (answer, want) in cases {
            let error = read_samples(answer).unwrap_err();
            assert!(error.starts_with(want), "{error}");
        }
        let mut no_value = gauge("probe_success", &[], 1.0);
        no_value.metric[0].gauge = None;
        assert_eq!(
            read_samples(&delimited(&[no_value])).unwrap_err(),
            "blackbox's answer has Gauge metric probe_success without its value"
        );
        let mut odd = gauge("probe_success", &[], 1.0);
        odd.r#type = 9;
        assert_eq!(
            read_samples(&delimited(&[odd])).unwrap_err(),
            "blackbox's answer has metric probe_success of unknown type 9"
        );
    }
}

//! `bench/results.md`: the tables a reader compares, from [`Results`].

use std::fmt::Write as _;

use super::{
    CostRow, Results, INVOKES_PER_MONTH, MEMORY_MB, PRICE_ARM_GB_S, PRICE_PER_MILLION_REQUESTS,
    PRICE_SCHEDULER_PER_MILLION, PRICE_X86_GB_S, PUSH_RUNS_PER_MONTH,
};

const COLD_NAMES: [(&str, &str); 8] = [
    (
        "blackbox",
        "blackbox_exporter alone (exec → `Listening on`)",
    ),
    (
        "ours",
        "**lambda-blackbox** (extension + blackbox + handler)",
    ),
    (
        "ours_unguarded",
        "lambda-blackbox with the connect guard off",
    ),
    (
        "trivial",
        "sandbox floor: a trivial bootstrap, no extension",
    ),
    (
        "trivial_ext",
        "sandbox floor with an extension: trivial extension + trivial bootstrap",
    ),
    ("adapter", "AWS Lambda Web Adapter + blackbox"),
    ("sleep", "bash bootstrap: blackbox & + `sleep 0.1`"),
    (
        "baseline",
        "the baseline build (`--baseline`): its extension and bootstrap in this layer",
    ),
];

const WARM_NAMES: [(&str, &str); 8] = [
    ("direct", "straight to blackbox (no Lambda)"),
    ("ours", "**lambda-blackbox** via the Function URL"),
    (
        "ours_unguarded",
        "lambda-blackbox with the connect guard off",
    ),
    (
        "trivial",
        "sandbox overhead: trivial bootstrap via the Function URL",
    ),
    ("adapter", "Web Adapter + blackbox via the Function URL"),
    ("sleep", "bash + curl bootstrap via the Function URL"),
    (
        "ours_frozen",
        "lambda-blackbox, sandbox freezing between invokes",
    ),
    ("baseline", "the baseline build via the Function URL"),
];

fn ms(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

fn kib_mib(k: u64) -> String {
    format!("{:.2} MiB", k as f64 / 1024.0)
}

fn bytes_mib(b: u64) -> String {
    format!("{:.2} MiB ({b} B)", b as f64 / 1024.0 / 1024.0)
}

pub fn markdown(r: &Results, cold_rounds: usize, warm_probes: usize) -> String {
    let mut o = String::new();
    let m = &r.machine;
    let _ = writeln!(o, "# `make bench` results\n");
    let _ = writeln!(
        o,
        "Written by `make bench` (`bench/src`); do not edit by hand. Machine: {} × {}, Linux {}, \
         load average {} at the start and {} at the end (1, 5, 15 min), the bench at nice {}. \
         blackbox_exporter {}; \
         AWS Lambda Web Adapter {}. Everything runs on this one shared machine, in the local \
         Lambda sandbox (`sandbox/`), beside whatever else runs on it: **read the ratios, \
         not the absolute times**, and the tails least of all.\n",
        m.cpus,
        m.cpu_model,
        m.kernel,
        m.load_average_at_start,
        m.load_average_at_end,
        m.nice,
        m.blackbox_version,
        m.web_adapter_version.as_deref().unwrap_or("(not run)")
    );

    let _ = writeln!(o, "## Targets\n");
    let _ = writeln!(
        o,
        "| target | wanted | measured | met |\n| --- | --- | --- | --- |"
    );
    for t in &r.targets {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            t.name,
            t.target,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        );
    }

    let _ = writeln!(
        o,
        "\n## Cold start\n\n{cold_rounds} rounds; each round starts every variant once, in an order \
         shuffled afresh every round, so that no variant always follows the same one (a first round, discarded, warms the page cache). For the \
         sandboxed variants the figure is the sandbox's `Init Duration` (first extension \
         started → runtime and every extension on `/next`); for blackbox alone it is exec → \
         its `Listening on` line.\n"
    );
    let _ = writeln!(
        o,
        "| variant | median ms | min | max | n |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for (k, name) in COLD_NAMES {
        if let Some(s) = r.cold_start_ms.get(k) {
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} |",
                ms(s.p50),
                ms(s.min),
                ms(s.max),
                s.n
            );
        }
    }
    if let Some(d) = r.cold_start_paired_ms.get("ours_minus_blackbox") {
        let _ = writeln!(
            o,
            "\nPaired (same round) median difference, ours − blackbox alone: {} ms.",
            ms(*d)
        );
    }
    if let Some(d) = r.cold_start_paired_ms.get("ours_minus_trivial_ext") {
        let _ = writeln!(
            o,
            "Paired median difference, ours − the sandbox floor with an extension: {} ms.",
            ms(*d)
        );
    }
    if let Some(d) = r
        .cold_start_paired_ms
        .get("ours_minus_trivial_ext_minus_blackbox")
    {
        let _ = writeln!(
            o,
            "Paired median of ours − that floor − blackbox alone (what the extension and the \
             handler add to blackbox's own start, the sandbox's process start-up taken out): {} ms.",
            ms(*d)
        );
    }
    if let (Some(o_), Some(a)) = (r.cold_start_ms.get("ours"), r.cold_start_ms.get("adapter")) {
        let _ = writeln!(o, "Ours / Web Adapter (medians): {:.2}.", o_.p50 / a.p50);
    }

    let _ = writeln!(
        o,
        "\n## Warm probes\n\n{warm_probes} probes of a local HTTP target (`http_2xx`) per series, \
         one of each series a round in an order shuffled afresh every round, over keep-alive connections, each \
         timed from request to the last body byte. The sandbox answers the Function URL as \
         soon as the runtime posts its response, as Lambda does; what follows (extensions back \
         on `/next`, the freeze) delays only the next invoke of the same function. The \
         sandboxes do not freeze between invokes here except in the last series, which has the \
         sandbox stop and continue (SIGSTOP/SIGCONT) every process around each invoke, as \
         Lambda freezes and thaws them.\n"
    );
    let _ = writeln!(
        o,
        "| series | p50 ms | p90 | p99 | min | max | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (k, name) in WARM_NAMES {
        if let Some(s) = r.warm_probe_ms.get(k) {
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} | {} |",
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.min),
                ms(s.max),
                r.warm_errors.get(k).copied().unwrap_or(0)
            );
        }
    }
    for (k, e) in &r.warm_first_errors {
        let _ = writeln!(o, "\nFirst error of `{k}`: `{}`", e.replace('\n', " "));
    }
    let d = &r.warm_derived_ms;
    if let (Some(a), Some(b)) = (
        d.get("ours_minus_direct_p50"),
        d.get("ours_minus_direct_p99"),
    ) {
        let _ =
            writeln!(
            o,
            "\nOurs − direct: {} ms at p50, {} ms at p99. Taking the sandbox's own overhead (the \
             trivial bootstrap) out as well, the handler and extension add {} ms at p50 and {} ms \
             at p99 (differences of percentiles, not percentiles of differences; the tails of three \
             series on a shared machine are noisy, and a negative figure is that noise).",
            ms(*a),
            ms(*b),
            d.get("handler_extension_added_p50").map_or("?".into(), |v| ms(*v)),
            d.get("handler_extension_added_p99").map_or("?".into(), |v| ms(*v)),
        );
    }
    if let Some(v) = d.get("handler_extension_added_paired_median") {
        let _ = writeln!(
            o,
            "Round by round, the median of ours − direct − trivial bootstrap is {} ms.",
            ms(*v)
        );
    }
    let _ = writeln!(o, "\n![warm probe latency](warm-latency.png)");

    let _ = writeln!(
        o,
        "\n## Memory\n\nPeak RSS (`VmHWM` from `/proc`) of each process after the warm run, and \
         the sandbox's last `Max Memory Used` (the sum over the function's processes).\n"
    );
    let _ = writeln!(o, "| function | process | peak RSS |\n| --- | --- | ---: |");
    for (f, procs) in &r.peak_rss_kib {
        for (p, k) in procs {
            let _ = writeln!(o, "| {f} | {p} | {} |", kib_mib(*k));
        }
        if let Some(mb) = r.max_memory_used_mb.get(f) {
            let _ = writeln!(o, "| {f} | *Max Memory Used (REPORT)* | {mb} MB |");
        }
    }

    let s = &r.size_bytes;
    let _ = writeln!(
        o,
        "\n## Size\n\nZipped with `zip -9`, paths as in the layer.\n\n\
         | file | size | zipped |\n| --- | ---: | ---: |"
    );
    let _ = writeln!(
        o,
        "| extension (`extensions/blackbox-extension`) | {} | {} |",
        bytes_mib(s.extension),
        bytes_mib(s.extension_zipped)
    );
    let _ = writeln!(
        o,
        "| handler (`bootstrap`) | {} | {} |",
        bytes_mib(s.handler),
        bytes_mib(s.handler_zipped)
    );
    let _ = writeln!(
        o,
        "| **both** | {} | **{}** |",
        bytes_mib(s.extension + s.handler),
        bytes_mib(s.ours_zipped)
    );
    let _ = writeln!(
        o,
        "| blackbox_exporter (not ours: Debian's or upstream's build) | {} | |",
        bytes_mib(s.blackbox_exporter)
    );
    let _ = writeln!(o, "| the whole layer | | {} |", bytes_mib(s.layer_zipped));
    if let (Some(a), Some(z)) = (s.adapter, s.adapter_zipped) {
        let _ = writeln!(
            o,
            "| Web Adapter (`extensions/lambda-adapter`) | {} | {} |",
            bytes_mib(a),
            bytes_mib(z)
        );
    }

    let _ = writeln!(
        o,
        "\n## Cost\n\nOne target probed from one region: one invoke every 15 s ({:.0} in a 30-day \
         month) at {:.0} MB. \
         Prices assumed (AWS Lambda on-demand, us-east-1, no free tier): x86_64 ${} per \
         GB-s, arm64 ${} per GB-s, ${:.2} per million requests; Function URLs cost nothing \
         extra; data transfer not included. Duration is billed rounded up to the millisecond. \
         A local target answers in microseconds, so the measured row is a floor: a real \
         target's response time dominates, as the illustrations show.\n",
        INVOKES_PER_MONTH, MEMORY_MB, PRICE_X86_GB_S, PRICE_ARM_GB_S, PRICE_PER_MILLION_REQUESTS
    );
    cost_table(&mut o, "probe", &r.monthly_cost_usd);
    if let Some(rd) = r.report_duration_ms.get("ours") {
        let _ = writeln!(
            o,
            "\nThe sandbox's REPORT `Duration` of our warm probes: median {} ms, p99 {} ms, max {} ms.",
            ms(rd.p50),
            ms(rd.p99),
            ms(rd.max)
        );
    }
    push_section(&mut o, r);
    o
}

fn push_section(o: &mut String, r: &Results) {
    if r.push.duration_ms.is_empty() {
        let _ = writeln!(
            o,
            "\n## Push mode\n\nNot measured in this run (`--push 0`)."
        );
        return;
    }
    let _ = writeln!(
        o,
        "\n## Push mode\n\nScheduler inputs listing 1, 10 and 100 local HTTP targets (`http_2xx`), each run \
         probing them through blackbox (32 at once) and remote-writing the series to a receiver on \
         loopback that answers 204. Duration is the sandbox's REPORT line of each run.\n"
    );
    let _ = writeln!(
        o,
        "| targets a run | p50 ms | p90 | max | runs | Max Memory Used |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (targets, d) in &r.push.duration_ms {
        let memory = r
            .push
            .max_memory_used_mb
            .get(targets)
            .map_or("—".to_string(), |mb| format!("{mb} MB"));
        let _ = writeln!(
            o,
            "| {targets} | {} | {} | {} | {} | {memory} |",
            ms(d.p50),
            ms(d.p90),
            ms(d.max),
            d.n
        );
    }
    if let Some(k) = r.push.handler_peak_rss_kib {
        let _ = writeln!(
            o,
            "\nThe handler's peak RSS after every run: {}.",
            kib_mib(k)
        );
    }
    let _ = writeln!(
        o,
        "\nCost of one region's push mode: one run a minute ({:.0} in a 30-day month) at {:.0} MB, \
         the same Lambda prices as above; EventBridge Scheduler's {:.0} invocations are inside its \
         free 14 million a month (${:.2} per million beyond). Remote-write's own price (Amazon \
         Managed Service for Prometheus bills samples ingested) is not included.\n",
        PUSH_RUNS_PER_MONTH, MEMORY_MB, PUSH_RUNS_PER_MONTH, PRICE_SCHEDULER_PER_MILLION
    );
    cost_table(o, "run", &r.push_monthly_cost_usd);
}

fn cost_table(o: &mut String, first_column: &str, rows: &[CostRow]) {
    let _ = writeln!(
        o,
        "| {first_column} | Duration ms | billed ms | x86_64 per month | arm64 per month |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for c in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} | ${:.4} | ${:.4} |",
            c.what,
            ms(c.duration_ms),
            c.billed_ms,
            c.x86_64_usd,
            c.arm64_usd
        );
    }
}

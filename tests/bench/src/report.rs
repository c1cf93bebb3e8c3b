//! Formats the benchmarks' results as Markdown tables, printed as they are and
//! collected into target/bench/results.md, so a run leaves a record that can be
//! pasted into an issue.

use crate::measure::Measured;
use crate::verify::Column;

/// A Markdown table with padded columns (numbers right-aligned).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let numeric = |i: usize| rows.iter().all(|r| r[i].starts_with(|c: char| c.is_ascii_digit()) || r[i] == "-");
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(headers.iter().zip(&widths).map(|(h, w)| format!("{h:<w$}")).collect());
    out.push_str(&line(
        widths
            .iter()
            .enumerate()
            .map(|(i, w)| if numeric(i) { format!("{}:", "-".repeat(w - 1)) } else { "-".repeat(*w) })
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(
            r.iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| if numeric(i) { format!("{c:>w$}") } else { format!("{c:<w$}") })
                .collect(),
        ));
    }
    out
}

/// A measured program's row of a benchmark's table: its name, seconds, `units`
/// (rows, records) per second, input MB per second, peak RSS, CPU seconds and
/// the size of what it wrote, if anything.
pub fn row(name: &str, m: &Measured, units: u64, input_bytes: u64, output_bytes: Option<u64>) -> Vec<String> {
    vec![
        name.to_string(),
        format!("{:.2}", m.seconds),
        rate(units as f64 / m.seconds),
        format!("{:.1}", mb(input_bytes) / m.seconds),
        format!("{:.1}", mb(m.max_rss)),
        format!("{:.2}", m.cpu_seconds),
        output_bytes.map_or("-".into(), |s| format!("{:.1}", mb(s))),
    ]
}

/// Columns as `name: type` pairs, for a note under a table.
pub fn schema(columns: &[Column]) -> String {
    columns.iter().map(|c| format!("`{}: {}`", c.name, c.data_type)).collect::<Vec<_>>().join(", ")
}

/// Bytes as megabytes (10^6 bytes).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// A rate such as records per second, with thousands separators.
pub fn rate(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The targets' verdicts and the notes under a benchmark's table: (c) against
/// the native baseline (b) in wall time, (c)'s peak RSS, rows per CPU-second,
/// and the launcher's RSS floor under every figure.
pub fn targets(a: &Measured, b: &Measured, c: &Measured, min_ratio: f64, max_rss_mb: f64) -> String {
    let c_b = b.seconds / c.seconds;
    let floor = [a, b, c].iter().map(|m| m.launcher_rss).max().unwrap_or(0);
    format!(
        "- target c ≥ {min_ratio} × b: c/b = {c_b:.2}: **{}**\n\
         - target peak RSS of c < {max_rss_mb:.0} MB: {:.1} MB: **{}**\n\
         - rows per CPU-second: c/b = {:.2} ((c) encodes Parquet on a thread of its own, so its wall time \
         overlaps encoding with fetching and decoding; the throughput ratios above are wall time)\n\
         - every peak RSS includes the launcher's floor of at most {:.1} MB (see measure.rs)\n",
        verdict(c_b >= min_ratio),
        mb(c.max_rss),
        verdict(mb(c.max_rss) < max_rss_mb),
        b.cpu_seconds / c.cpu_seconds,
        mb(floor),
    )
}

/// "met" or "NOT met".
fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::rate(1234567.4), "1,234,567");
        assert_eq!(super::rate(999.0), "999");
        assert_eq!(super::rate(1000.0), "1,000");
    }
}

//! `--plot DIR`: SVG charts drawn from the result rows (no extra
//! measurement): `latency.svg`, the RTT percentiles of every ping-pong row
//! on a log axis, fastest first; `throughput.svg`, bytes/s by message size
//! (both axes log) for every stream and memcpy row, one line per transport
//! and pattern.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::results::{Metric, Row};
use crate::transports::Pattern;

type PlotResult<T> = Result<T, Box<dyn Error>>;

/// Writes the charts into `dir` (created if needed) and returns their paths.
pub fn write(rows: &[Row], dir: &Path) -> PlotResult<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let lat = dir.join("latency.svg");
    if latency(rows, &lat)? {
        files.push(lat);
    }
    let thr = dir.join("throughput.svg");
    if throughput(rows, &thr)? {
        files.push(thr);
    }
    Ok(files)
}

fn latency(rows: &[Row], path: &Path) -> PlotResult<bool> {
    let mut pts: Vec<(&str, [f64; 3])> = rows
        .iter()
        .filter(|r| r.pattern == Pattern::PingPong)
        .filter_map(|r| {
            Some((
                r.transport,
                [
                    r.metric(Metric::RttP50)?.median,
                    r.metric(Metric::RttP99)?.median,
                    r.metric(Metric::RttP999)?.median,
                ],
            ))
        })
        .collect();
    if pts.is_empty() {
        return Ok(false);
    }
    pts.sort_by(|a, b| a.1[0].total_cmp(&b.1[0]));
    let lo = pts.iter().map(|p| p.1[0]).fold(f64::MAX, f64::min) / 2.0;
    let hi = pts.iter().map(|p| p.1[2]).fold(0.0, f64::max) * 2.0;
    let n = pts.len();
    let names: Vec<String> = pts.iter().map(|p| p.0.to_string()).collect();

    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Round-trip time (ping-pong, 2 processes)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(70)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo.max(1.0)..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_desc("RTT (log scale)")
        .y_label_formatter(&|v| crate::report::dur(*v))
        .draw()?;
    let series = [("p50", BLUE), ("p99", GREEN), ("p99.9", RED)];
    for (k, (label, color)) in series.into_iter().enumerate() {
        let data: Vec<(f64, f64)> = pts.iter().enumerate().map(|(i, p)| (i as f64, p.1[k])).collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.mix(0.4)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(data.into_iter().map(move |p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(true)
}

fn throughput(rows: &[Row], path: &Path) -> PlotResult<bool> {
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.pattern.is_latency()) {
        if let Some(v) = r.metric(Metric::BytesPerS) {
            let key = if r.pattern == Pattern::Throughput {
                r.transport.to_string()
            } else {
                format!("{} ({})", r.transport, r.pattern.name())
            };
            lines.entry(key).or_default().push((r.size as f64, v.median));
        }
    }
    if lines.is_empty() {
        return Ok(false);
    }
    let all = lines.values().flatten();
    let (xlo, xhi, ylo, yhi) = all.fold((f64::MAX, 0f64, f64::MAX, 0f64), |a, p| {
        (a.0.min(p.0), a.1.max(p.0), a.2.min(p.1), a.3.max(p.1))
    });
    let root = SVGBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Throughput by message size", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((xlo / 1.5..xhi * 1.5).log_scale(), (ylo / 2.0..yhi * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("message size (bytes)")
        .y_desc("bytes/s")
        .y_label_formatter(&|v| crate::report::si(*v))
        .x_label_formatter(&|v| crate::report::size(*v as usize))
        .draw()?;
    for (i, (name, mut data)) in lines.into_iter().enumerate() {
        data.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(data.into_iter().map(move |p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(true)
}

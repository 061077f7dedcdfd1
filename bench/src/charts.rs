//! PNG charts drawn from a results JSON (see the "Results JSON" section of the bench contract).
//!
//! `draw` writes up to five charts into a directory:
//! - `c2c-throughput.png`: acked messages/s against the send window, one line per target;
//! - `c2c-latency.png`: p50 / p99 / p99.9 latency bars grouped by target (at half the best rate);
//! - `c2c-latency-vs-rate.png`: p50 and p99 latency against the offered rate, one curve per target
//!   (drawn when a target has latency runs at two rates or more);
//! - `group-fanout.png`: deliveries/s per group kind, one bar per target, p99 written above each bar;
//! - `connections.png`: server RSS per idle connection, one bar per target, with logins/s.
//!
//! A chart whose data is absent is skipped. The JSON is read defensively: a missing or non-numeric
//! field drops that data point, never the whole run. Text needs a TTF font, loaded at run time from
//! the usual system locations (or `PARLEY_BENCH_FONT`); without one `draw` returns an error.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};
use serde_json::Value;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 500;
/// Width of the plot part of the canvas; the rest (on the right) holds the legend.
const PLOT_WIDTH: u32 = 715;
const HEADER_HEIGHT: u32 = 62;

/// Targets in the order they are drawn, with their fixed colors.
const KNOWN_TARGETS: [(&str, RGBColor); 5] = [
    ("parley-sqlite", RGBColor(31, 119, 180)),
    ("parley-postgres", RGBColor(255, 127, 14)),
    ("limit", RGBColor(120, 120, 120)),
    ("ejabberd", RGBColor(44, 160, 44)),
    ("ejabberd-mnesia", RGBColor(214, 39, 40)),
];
/// Colors for targets outside `KNOWN_TARGETS`, in order of first appearance.
const EXTRA_COLORS: [RGBColor; 5] = [
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

/// Draws every chart whose data is present into `dir` (created if needed); returns the files written.
pub fn draw(results: &Value, dir: &Path) -> io::Result<Vec<PathBuf>> {
    load_font()?;
    std::fs::create_dir_all(dir)?;
    let runs = Runs::new(results);
    let mut written = Vec::new();
    let charts: [(&str, ChartFn); 5] = [
        ("c2c-throughput.png", throughput_chart),
        ("c2c-latency.png", latency_chart),
        ("c2c-latency-vs-rate.png", latency_curve_chart),
        ("group-fanout.png", fanout_chart),
        ("connections.png", connections_chart),
    ];
    for (file, chart) in charts {
        let path = dir.join(file);
        if chart(&runs, &path)? {
            written.push(path);
        }
    }
    Ok(written)
}

/// Draws one chart into the path; `Ok(false)` when its data is absent (nothing written).
type ChartFn = fn(&Runs, &Path) -> io::Result<bool>;

// ---------------------------------------------------------------------------------------------
// Font

/// Registers a system TTF as "sans-serif" once per process (plotters' ab_glyph needs `'static` bytes).
fn load_font() -> io::Result<()> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = LOADED.get_or_init(|| {
        let from_env = std::env::var("PARLEY_BENCH_FONT").ok();
        let candidates = from_env.iter().map(String::as_str).chain(FONT_PATHS);
        for path in candidates {
            let Ok(bytes) = std::fs::read(path) else { continue };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
        Err(format!(
            "charts need a TTF font: none found at {} (set PARLEY_BENCH_FONT to a .ttf file)",
            FONT_PATHS.join(", ")
        ))
    });
    outcome.clone().map_err(|msg| io::Error::new(io::ErrorKind::NotFound, msg))
}

// ---------------------------------------------------------------------------------------------
// Reading the results

/// The runs of a results file plus a stable target order and color for every target seen.
struct Runs<'a> {
    runs: Vec<&'a Value>,
    targets: Vec<(String, RGBColor)>,
}

impl<'a> Runs<'a> {
    fn new(results: &'a Value) -> Self {
        let runs: Vec<&Value> = results
            .get("runs")
            .and_then(Value::as_array)
            .map(|runs| runs.iter().filter(|run| run.is_object()).collect())
            .unwrap_or_default();
        let mut targets: Vec<(String, RGBColor)> =
            KNOWN_TARGETS.iter().map(|(name, color)| (name.to_string(), *color)).collect();
        let mut extra = 0;
        for run in &runs {
            let Some(name) = text(run, &["target"]) else { continue };
            if !targets.iter().any(|(known, _)| known == name) {
                targets.push((name.to_string(), EXTRA_COLORS[extra % EXTRA_COLORS.len()]));
                extra += 1;
            }
        }
        Runs { runs, targets }
    }

    /// Runs of one scenario, in file order.
    fn scenario(&self, scenario: &str) -> Vec<&'a Value> {
        self.runs.iter().copied().filter(|run| text(run, &["scenario"]) == Some(scenario)).collect()
    }

    /// Known targets (in display order) that have an entry in `per_target`.
    fn present<T>(&self, per_target: &BTreeMap<String, T>) -> Vec<(String, RGBColor)> {
        self.targets.iter().filter(|(name, _)| per_target.contains_key(name)).cloned().collect()
    }
}

/// A finite number at `path` inside `value`.
fn num(value: &Value, path: &[&str]) -> Option<f64> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    current.as_f64().filter(|v| v.is_finite())
}

/// A string at `path` inside `value`.
fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    current.as_str()
}

/// Latency percentiles of a run, in the order p50, p99, p99.9 (absent ones are `None`).
fn percentiles(run: &Value) -> [Option<f64>; 3] {
    ["p50", "p99", "p999"].map(|p| num(run, &["metrics", "latency_ms", p]).filter(|v| *v >= 0.0))
}

/// The value of a numeric parameter if every run agrees on it.
fn common_param(runs: &[&Value], key: &str) -> Option<f64> {
    let mut values = runs.iter().filter_map(|run| num(run, &["params", key]));
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

// ---------------------------------------------------------------------------------------------
// Formatting

/// A compact human number: 0.42, 4.20, 42.0, 420, 4.2k, 42k, 4.2M.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// An axis tick label: like `fmt_num` but without trailing zeros ("0.5" not "0.50", "2k" not "2.0k").
fn fmt_tick(v: f64) -> String {
    let s = fmt_num(v);
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_alphabetic() => (&s[..i], &s[i..]),
        _ => (s.as_str(), ""),
    };
    if digits.contains('.') {
        format!("{}{unit}", digits.trim_end_matches('0').trim_end_matches('.'))
    } else {
        s
    }
}

/// A parameter value for a subtitle (integers without decimals).
fn fmt_param(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Mixes a color toward white by `amount` (0 = unchanged, 1 = white).
fn lighten(color: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * amount).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

// ---------------------------------------------------------------------------------------------
// Axes

/// A value axis: linear from zero, or log10 (values are then drawn at log10(v)).
#[derive(Clone, Copy)]
enum Scale {
    Linear,
    Log,
}

impl Scale {
    fn to_axis(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.max(f64::MIN_POSITIVE).log10(),
        }
    }

    fn value_at(self, y: f64) -> f64 {
        match self {
            Scale::Linear => y,
            Scale::Log => 10f64.powf(y),
        }
    }
}

/// Axis range (in axis units) and tick positions for values in `lo..=hi`, leaving `headroom`
/// (a fraction of the span) above the largest value for the labels drawn over bars.
fn value_axis(scale: Scale, lo: f64, hi: f64, headroom: f64) -> (std::ops::Range<f64>, Vec<f64>) {
    match scale {
        Scale::Linear => {
            let hi = if hi > 0.0 { hi } else { 1.0 };
            let top = hi * (1.0 + headroom);
            let step = nice_step(top / 6.0);
            let ticks = (0..).map(|i| f64::from(i) * step).take_while(|t| *t <= top * 1.0001).collect();
            (0.0..top, ticks)
        }
        Scale::Log => {
            let bottom = lo.log10().floor();
            let span = (hi.log10() - bottom).max(1.0);
            let top = hi.log10() + span * headroom;
            let mut ticks = Vec::new();
            let decades = top.ceil() - bottom;
            let mantissas: &[f64] = if decades <= 3.0 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            let mut exponent = bottom;
            while exponent <= top {
                for m in mantissas {
                    let t = exponent + m.log10();
                    if t <= top {
                        ticks.push(t);
                    }
                }
                exponent += 1.0;
            }
            (bottom..top, ticks)
        }
    }
}

/// A linear f64 axis whose tick marks are exactly the given values (plotters' `with_key_points`
/// wrapper does not keep the f64 label formatter, so `configure_mesh` would not accept it).
struct Axis {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl Axis {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Axis { range, ticks }
    }
}

impl Ranged for Axis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let fraction = if span > 0.0 { (value - self.range.start) / span } else { 0.0 };
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// A 1, 2 or 5 × 10^n step close to `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

// ---------------------------------------------------------------------------------------------
// Shared drawing pieces

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_err<E: std::fmt::Display>(err: E) -> io::Error {
    io::Error::other(format!("drawing chart: {err}"))
}

fn font(size: f64) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// Clears the canvas, writes the title and subtitle, and returns (plot area, legend area).
fn layout<'a>(root: &Area<'a>, title: &str, subtitle: &str) -> io::Result<(Area<'a>, Area<'a>)> {
    root.fill(&WHITE).map_err(draw_err)?;
    let center = Pos::new(HPos::Center, VPos::Top);
    let x = (WIDTH / 2) as i32;
    root.draw_text(title, &font(24.0).pos(center), (x, 10)).map_err(draw_err)?;
    if !subtitle.is_empty() {
        let style = font(14.0).color(&RGBColor(90, 90, 90)).pos(center);
        root.draw_text(subtitle, &style, (x, 40)).map_err(draw_err)?;
    }
    let (_, body) = root.split_vertically(HEADER_HEIGHT);
    Ok(body.split_horizontally(PLOT_WIDTH))
}

/// A legend entry: a color swatch and its label (an empty label with no color is a spacer,
/// a label with no color is a heading).
struct Entry {
    label: String,
    color: Option<RGBColor>,
}

fn entry(label: &str, color: RGBColor) -> Entry {
    Entry { label: label.to_string(), color: Some(color) }
}

fn heading(label: &str) -> Entry {
    Entry { label: label.to_string(), color: None }
}

fn draw_legend(area: &Area, entries: &[Entry]) -> io::Result<()> {
    let mut y = 20;
    let left = Pos::new(HPos::Left, VPos::Center);
    for item in entries {
        match item.color {
            Some(color) => {
                area.draw(&Rectangle::new([(8, y - 7), (22, y + 7)], color.filled())).map_err(draw_err)?;
                area.draw_text(&item.label, &font(15.0).pos(left), (30, y)).map_err(draw_err)?;
            }
            None => {
                let style = font(14.0).color(&RGBColor(70, 70, 70)).pos(left);
                area.draw_text(&item.label, &style, (8, y)).map_err(draw_err)?;
            }
        }
        y += 24;
    }
    Ok(())
}

/// One bar of a grouped bar chart: its slot within the group, its value and the lines written above it.
struct Bar {
    slot: usize,
    value: f64,
    color: RGBColor,
    labels: Vec<String>,
}

struct Group {
    label: String,
    bars: Vec<Bar>,
}

struct BarChart<'a> {
    title: &'a str,
    subtitle: String,
    x_desc: &'a str,
    y_desc: &'a str,
    scale: Scale,
    /// Bar slots per group (a missing bar leaves its slot empty so positions match across groups).
    slots: usize,
    groups: Vec<Group>,
    legend: Vec<Entry>,
}

fn draw_bar_chart(path: &Path, chart: &BarChart) -> io::Result<()> {
    let values = chart.groups.iter().flat_map(|g| g.bars.iter().map(|b| b.value));
    let (lo, hi) = values.fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let max_lines = chart.groups.iter().flat_map(|g| g.bars.iter().map(|b| b.labels.len())).max().unwrap_or(0);
    let headroom = 0.06 + 0.07 * max_lines as f64;
    let (y_range, y_ticks) = value_axis(chart.scale, lo, hi, headroom);
    let bottom = y_range.start;
    let n = chart.groups.len().max(1) as f64;
    let x_ticks: Vec<f64> = (0..chart.groups.len()).map(|i| i as f64 + 0.5).collect();

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let (plot, legend) = layout(&root, chart.title, &chart.subtitle)?;
    let mut ctx = ChartBuilder::on(&plot)
        .margin(10)
        .margin_right(20)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(Axis::new(0.0..n, x_ticks), Axis::new(y_range, y_ticks))
        .map_err(draw_err)?;
    let group_label = |x: &f64| {
        let index = x.floor() as usize;
        chart.groups.get(index).map(|g| g.label.clone()).unwrap_or_default()
    };
    let scale = chart.scale;
    let value_label = |y: &f64| format!("{} ", fmt_tick(scale.value_at(*y)));
    ctx.configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        .x_label_formatter(&group_label)
        .y_label_formatter(&value_label)
        .label_style(font(14.0))
        .x_label_style(font(15.0))
        .axis_desc_style(font(15.0))
        .draw()
        .map_err(draw_err)?;

    // Bars share 86% of a group's width, none wider than 45% of it, centered in the group.
    let slot_width = (0.86 / chart.slots.max(1) as f64).min(0.45);
    let first_slot = (1.0 - slot_width * chart.slots.max(1) as f64) / 2.0;
    let above = Pos::new(HPos::Center, VPos::Bottom);
    let line_height = 15;
    for (index, group) in chart.groups.iter().enumerate() {
        for bar in &group.bars {
            let left = index as f64 + first_slot + bar.slot as f64 * slot_width;
            let (x0, x1) = (left + slot_width * 0.08, left + slot_width * 0.92);
            let top = chart.scale.to_axis(bar.value).max(bottom);
            ctx.draw_series(std::iter::once(Rectangle::new([(x0, bottom), (x1, top)], bar.color.filled())))
                .map_err(draw_err)?;
            let count = bar.labels.len() as i32;
            let x_mid = (x0 + x1) / 2.0;
            let labels = bar.labels.iter().enumerate().map(|(line, label)| {
                let offset = -3 - (count - 1 - line as i32) * line_height;
                EmptyElement::at((x_mid, top)) + Text::new(label.clone(), (0, offset), font(12.5).pos(above))
            });
            ctx.draw_series(labels).map_err(draw_err)?;
        }
    }
    draw_legend(&legend, &chart.legend)?;
    root.present().map_err(draw_err)
}

// ---------------------------------------------------------------------------------------------
// 1. c2c throughput against window

fn throughput_chart(runs: &Runs, path: &Path) -> io::Result<bool> {
    let scenario = runs.scenario("c2c-throughput");
    // target → window → acked/s (a later run for the same window replaces an earlier one)
    let mut per_target: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    for run in &scenario {
        let (Some(target), Some(window), Some(acked)) =
            (text(run, &["target"]), num(run, &["params", "window"]), num(run, &["metrics", "acked_per_sec"]))
        else {
            continue;
        };
        if window >= 1.0 && acked >= 0.0 {
            per_target.entry(target.to_string()).or_default().insert(window.round() as u64, acked);
        }
    }
    let targets = runs.present(&per_target);
    if targets.is_empty() {
        return Ok(false);
    }
    let mut windows: Vec<u64> = per_target.values().flat_map(|m| m.keys().copied()).collect();
    windows.sort_unstable();
    windows.dedup();
    let x_of = |w: u64| (w as f64).log2();
    let (x_min, x_max) = (x_of(windows[0]), x_of(windows[windows.len() - 1]));
    let pad = ((x_max - x_min) * 0.06).max(0.5);
    let x_ticks: Vec<f64> = windows.iter().map(|w| x_of(*w)).collect();
    let y_max = per_target.values().flat_map(|m| m.values().copied()).fold(0f64, f64::max);
    let (y_range, y_ticks) = value_axis(Scale::Linear, 0.0, y_max, 0.08);

    let mut subtitle = vec!["acked = the server confirmed the message; 1:1 pairs".to_string()];
    if let Some(pairs) = common_param(&scenario, "pairs") {
        subtitle[0] = format!("acked = the server confirmed the message; {} sender→receiver pairs", fmt_param(pairs));
    }
    if let Some(seconds) = common_param(&scenario, "seconds") {
        subtitle.push(format!("{} s per point", fmt_param(seconds)));
    }

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let (plot, legend) = layout(&root, "1:1 messages: throughput vs send window", &subtitle.join(", "))?;
    let mut ctx = ChartBuilder::on(&plot)
        .margin(10)
        .margin_right(20)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(Axis::new(x_min - pad..x_max + pad, x_ticks), Axis::new(y_range, y_ticks))
        .map_err(draw_err)?;
    let window_label = |x: &f64| format!("{}", x.exp2().round());
    let rate_label = |y: &f64| format!("{} ", fmt_tick(*y));
    ctx.configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc("window: unacked messages in flight per sender (log2 scale)")
        .y_desc("acked messages/s")
        .x_label_formatter(&window_label)
        .y_label_formatter(&rate_label)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .draw()
        .map_err(draw_err)?;
    for (target, color) in &targets {
        let Some(points) = per_target.get(target) else { continue };
        let points: Vec<(f64, f64)> = points.iter().map(|(w, v)| (x_of(*w), *v)).collect();
        ctx.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(3))).map_err(draw_err)?;
        ctx.draw_series(points.iter().map(|p| Circle::new(*p, 5, color.filled()))).map_err(draw_err)?;
    }
    let entries: Vec<Entry> = targets.iter().map(|(name, color)| entry(name, *color)).collect();
    draw_legend(&legend, &entries)?;
    root.present().map_err(draw_err)?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// 2. c2c latency percentiles

fn latency_chart(runs: &Runs, path: &Path) -> io::Result<bool> {
    // Prefer the fixed-rate latency runs; fall back to the largest-window throughput run per target.
    let mut per_target: BTreeMap<String, [Option<f64>; 3]> = BTreeMap::new();
    let latency_runs = runs.scenario("c2c-latency");
    // Several rates per target: the run at half the best rate stands for it.
    let half = |run: &Value| num(run, &["params", "of_best"]) == Some(0.5);
    for run in &latency_runs {
        let Some(target) = text(run, &["target"]) else { continue };
        let p = percentiles(run);
        let has_half = latency_runs.iter().any(|r| text(r, &["target"]) == Some(target) && half(r));
        if p.iter().any(Option::is_some) && (half(run) || !has_half) {
            per_target.insert(target.to_string(), p);
        }
    }
    let subtitle;
    if per_target.is_empty() {
        let mut best: BTreeMap<String, (f64, [Option<f64>; 3])> = BTreeMap::new();
        for run in runs.scenario("c2c-throughput") {
            let (Some(target), Some(window)) = (text(run, &["target"]), num(run, &["params", "window"])) else {
                continue;
            };
            let p = percentiles(run);
            let better = best.get(target).is_none_or(|(w, _)| window >= *w);
            if p.iter().any(Option::is_some) && better {
                best.insert(target.to_string(), (window, p));
            }
        }
        let mut windows: Vec<String> = best.values().map(|(w, _)| fmt_param(*w)).collect();
        windows.dedup();
        subtitle = format!("from the c2c-throughput run with the largest window ({})", windows.join(", "));
        per_target = best.into_iter().map(|(t, (_, p))| (t, p)).collect();
    } else {
        let mut parts = vec!["send → delivery at a fixed rate".to_string()];
        if let Some(pairs) = common_param(&latency_runs, "pairs") {
            parts.push(format!("{} pairs", fmt_param(pairs)));
        }
        if let Some(rate) = common_param(&latency_runs, "rate_per_sec") {
            parts.push(format!("{} msg/s offered", fmt_param(rate)));
        } else if latency_runs.iter().any(|r| half(r)) {
            parts.push("at half of each target's best rate".to_string());
        }
        subtitle = parts.join(", ");
    }
    let targets = runs.present(&per_target);
    if targets.is_empty() {
        return Ok(false);
    }
    let names = ["p50", "p99", "p99.9"];
    let shades = [0.6, 0.3, 0.0];
    let mut groups = Vec::new();
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for (target, color) in &targets {
        let Some(p) = per_target.get(target) else { continue };
        let mut bars = Vec::new();
        for (slot, value) in p.iter().enumerate() {
            let Some(value) = *value else { continue };
            if value > 0.0 {
                lo = lo.min(value);
            }
            hi = hi.max(value);
            bars.push(Bar { slot, value, color: lighten(*color, shades[slot]), labels: vec![fmt_num(value)] });
        }
        groups.push(Group { label: target.clone(), bars });
    }
    // Log scale when the percentiles span more than ~1.5 decades (tails are often far above the median).
    let scale = if lo.is_finite() && hi / lo > 30.0 { Scale::Log } else { Scale::Linear };
    if let Scale::Log = scale {
        // Zero-latency bars cannot be drawn on a log axis; they sit on the floor.
        for bar in groups.iter_mut().flat_map(|g| g.bars.iter_mut()) {
            bar.value = bar.value.max(lo);
        }
    }
    let mut legend: Vec<Entry> = targets.iter().map(|(name, color)| entry(name, *color)).collect();
    legend.push(heading(""));
    legend.push(heading("bars, left to right:"));
    for (name, shade) in names.iter().zip(shades) {
        legend.push(entry(name, lighten(RGBColor(60, 60, 60), shade)));
    }
    let y_desc = match scale {
        Scale::Log => "latency, ms (log scale)",
        Scale::Linear => "latency, ms",
    };
    let chart = BarChart {
        title: "1:1 messages: delivery latency percentiles",
        subtitle,
        x_desc: "target (bars: p50, p99, p99.9)",
        y_desc,
        scale,
        slots: 3,
        groups,
        legend,
    };
    draw_bar_chart(path, &chart)?;
    Ok(true)
}

/// p50 and p99 against the offered rate: where latency starts to climb, next to the limit's.
fn latency_curve_chart(runs: &Runs, path: &Path) -> io::Result<bool> {
    let latency_runs = runs.scenario("c2c-latency");
    // target → rate → (p50, p99)
    let mut per_target: BTreeMap<String, BTreeMap<u64, (f64, f64)>> = BTreeMap::new();
    for run in &latency_runs {
        let (Some(target), Some(rate), [Some(p50), Some(p99), _]) =
            (text(run, &["target"]), num(run, &["params", "rate_per_sec"]), percentiles(run))
        else {
            continue;
        };
        if rate > 0.0 {
            per_target.entry(target.to_string()).or_default().insert(rate.round() as u64, (p50, p99));
        }
    }
    per_target.retain(|_, points| points.len() >= 2);
    let targets = runs.present(&per_target);
    if targets.is_empty() {
        return Ok(false);
    }
    let all = || per_target.values().flat_map(|m| m.iter());
    let x_max = all().map(|(rate, _)| *rate as f64).fold(0f64, f64::max);
    let lo = all().map(|(_, (p50, _))| *p50).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let hi = all().map(|(_, (_, p99))| *p99).fold(0f64, f64::max);
    let lo = if lo.is_finite() { lo } else { 0.1 };
    let (x_range, x_ticks) = value_axis(Scale::Linear, 0.0, x_max, 0.05);
    let (y_range, y_ticks) = value_axis(Scale::Log, lo, hi.max(lo * 10.0), 0.1);
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let subtitle = "send → delivery at a steady offered rate; solid: p99, thin: p50";
    let (plot, legend) = layout(&root, "1:1 messages: latency vs offered rate", subtitle)?;
    let mut ctx = ChartBuilder::on(&plot)
        .margin(10)
        .margin_right(20)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(Axis::new(x_range, x_ticks), Axis::new(y_range, y_ticks))
        .map_err(draw_err)?;
    let rate_label = |x: &f64| fmt_tick(*x);
    let ms_label = |y: &f64| format!("{} ", fmt_tick(Scale::Log.value_at(*y)));
    ctx.configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc("offered messages/s")
        .y_desc("latency, ms (log scale)")
        .x_label_formatter(&rate_label)
        .y_label_formatter(&ms_label)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .draw()
        .map_err(draw_err)?;
    let y = |v: f64| Scale::Log.to_axis(v.max(lo));
    for (target, color) in &targets {
        let Some(points) = per_target.get(target) else { continue };
        let p99: Vec<(f64, f64)> = points.iter().map(|(rate, (_, p99))| (*rate as f64, y(*p99))).collect();
        let p50: Vec<(f64, f64)> = points.iter().map(|(rate, (p50, _))| (*rate as f64, y(*p50))).collect();
        let light = lighten(*color, 0.5);
        ctx.draw_series(LineSeries::new(p50.iter().copied(), light.stroke_width(1))).map_err(draw_err)?;
        ctx.draw_series(p50.iter().map(|p| Circle::new(*p, 3, light.filled()))).map_err(draw_err)?;
        ctx.draw_series(LineSeries::new(p99.iter().copied(), color.stroke_width(3))).map_err(draw_err)?;
        ctx.draw_series(p99.iter().map(|p| Circle::new(*p, 5, color.filled()))).map_err(draw_err)?;
    }
    let entries: Vec<Entry> = targets.iter().map(|(name, color)| entry(name, *color)).collect();
    draw_legend(&legend, &entries)?;
    root.present().map_err(draw_err)?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// 3. group fan-out

fn fanout_chart(runs: &Runs, path: &Path) -> io::Result<bool> {
    let scenario = runs.scenario("group-fanout");
    // group → target → run (a later run replaces an earlier one)
    let mut per_group: Vec<(String, BTreeMap<String, &Value>)> = Vec::new();
    let mut all_targets: BTreeMap<String, ()> = BTreeMap::new();
    for run in &scenario {
        let (Some(group), Some(target)) = (text(run, &["params", "group"]), text(run, &["target"])) else {
            continue;
        };
        if num(run, &["metrics", "deliveries_per_sec"]).is_none_or(|v| v < 0.0) {
            continue;
        }
        all_targets.insert(target.to_string(), ());
        match per_group.iter_mut().find(|(g, _)| g == group) {
            Some((_, by_target)) => {
                by_target.insert(target.to_string(), run);
            }
            None => per_group.push((group.to_string(), BTreeMap::from([(target.to_string(), *run)]))),
        }
    }
    let targets = runs.present(&all_targets);
    if targets.is_empty() {
        return Ok(false);
    }
    // The two contract groups first, anything else after in order of appearance.
    let rank = |g: &str| ["public-1000", "av-10000"].iter().position(|k| *k == g).unwrap_or(2);
    per_group.sort_by_key(|(g, _)| rank(g));

    let mut groups = Vec::new();
    let mut notes = Vec::new();
    for (group, by_target) in &per_group {
        let mut bars = Vec::new();
        for (slot, (target, color)) in targets.iter().enumerate() {
            let Some(run) = by_target.get(target) else { continue };
            let Some(value) = num(run, &["metrics", "deliveries_per_sec"]) else { continue };
            let mut labels = Vec::new();
            if let Some(p99) = num(run, &["metrics", "latency_ms", "p99"]) {
                labels.push("p99".to_string());
                labels.push(format!("{} ms", fmt_num(p99)));
            }
            let delivered = num(run, &["metrics", "delivered"]);
            let expected = num(run, &["metrics", "expected_deliveries"]);
            if let (Some(delivered), Some(expected)) = (delivered, expected) {
                if expected > 0.0 && delivered < expected * 0.999 {
                    labels.push(format!("{:.1}% lost", (1.0 - delivered / expected) * 100.0));
                }
            }
            bars.push(Bar { slot, value, color: *color, labels });
        }
        let group_runs: Vec<&Value> = by_target.values().copied().collect();
        let mut note = group.clone();
        if let Some(members) = common_param(&group_runs, "members") {
            note.push_str(&format!(": {} members", fmt_param(members)));
            if let Some(senders) = common_param(&group_runs, "senders") {
                note.push_str(&format!(", {} senders", fmt_param(senders)));
            }
            if let Some(rate) = common_param(&group_runs, "rate_per_sec") {
                note.push_str(&format!(" at {} msg/s", fmt_param(rate)));
            }
            notes.push(note);
        }
        groups.push(Group { label: group.clone(), bars });
    }
    let legend = targets.iter().map(|(name, color)| entry(name, *color)).collect();
    let chart = BarChart {
        title: "Group fan-out: deliveries per second",
        subtitle: notes.join("; "),
        x_desc: "group (p99 = send → delivery latency)",
        y_desc: "deliveries/s",
        scale: Scale::Linear,
        slots: targets.len(),
        groups,
        legend,
    };
    draw_bar_chart(path, &chart)?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// 4. idle connections

fn connections_chart(runs: &Runs, path: &Path) -> io::Result<bool> {
    let scenario = runs.scenario("connections");
    let mut per_target: BTreeMap<String, &Value> = BTreeMap::new();
    for run in &scenario {
        let Some(target) = text(run, &["target"]) else { continue };
        if num(run, &["metrics", "rss_per_conn_kb"]).is_some_and(|v| v >= 0.0) {
            per_target.insert(target.to_string(), run);
        }
    }
    let targets = runs.present(&per_target);
    if targets.is_empty() {
        return Ok(false);
    }
    let used: Vec<&Value> = per_target.values().copied().collect();
    let same_count = common_param(&used, "connections");
    let mut groups = Vec::new();
    for (target, color) in &targets {
        let Some(run) = per_target.get(target) else { continue };
        let Some(kb) = num(run, &["metrics", "rss_per_conn_kb"]) else { continue };
        let mut labels = vec![format!("{} KB", fmt_num(kb))];
        if let Some(logins) = num(run, &["metrics", "logins_per_sec"]) {
            labels.push(format!("{} logins/s", fmt_num(logins)));
        }
        // Runs with different connection counts say theirs on the bar (the subtitle cannot).
        if same_count.is_none() {
            if let Some(count) = num(run, &["params", "connections"]) {
                labels.push(format!("{} conns", fmt_param(count)));
            }
        }
        groups.push(Group { label: target.clone(), bars: vec![Bar { slot: 0, value: kb, color: *color, labels }] });
    }
    let mut subtitle = "(RSS with connections − baseline RSS) / connections".to_string();
    if let Some(connections) = same_count {
        subtitle = format!("{} idle logged-in connections", fmt_param(connections));
        if let Some(sources) = common_param(&used, "sources") {
            subtitle.push_str(&format!(" from {} source IPs", fmt_param(sources)));
        }
        subtitle.push_str("; (RSS − baseline) / connections");
    }
    let legend = targets.iter().map(|(name, color)| entry(name, *color)).collect();
    let chart = BarChart {
        title: "Idle connections: server memory per connection",
        subtitle,
        x_desc: "target (label: KB per connection, login rate)",
        y_desc: "server RSS per connection, KB",
        scale: Scale::Linear,
        slots: 1,
        groups,
        legend,
    };
    draw_bar_chart(path, &chart)?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// 5. the soak: server memory and descriptors over time

/// `soak-rss.png` from a soak result (`parley-bench soak`): the server's RSS (left axis) and its
/// open descriptors and the generator's open connections (right axis) against time, with the
/// traffic period, the end of warm-up and the two quarters the RSS criterion compares marked.
/// `Ok(false)` when the result has no samples.
pub fn soak_chart(result: &Value, path: &Path) -> io::Result<bool> {
    let samples: Vec<[f64; 5]> = result
        .get("samples")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    let a = s.as_array()?;
                    let at = |i: usize| a.get(i).and_then(Value::as_f64);
                    Some([at(0)?, at(1)?, at(2)?, at(3)?, at(4)?])
                })
                .collect()
        })
        .unwrap_or_default();
    if samples.len() < 2 {
        return Ok(false);
    }
    load_font()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let minutes = |t: f64| t / 60.0;
    let x_max = minutes(samples.iter().map(|s| s[0]).fold(0.0, f64::max)).max(0.1);
    let rss_max = samples.iter().map(|s| s[1]).fold(0.0, f64::max);
    let count_max = samples.iter().map(|s| s[2].max(s[4])).fold(0.0, f64::max);
    let (rss_range, rss_ticks) = value_axis(Scale::Linear, 0.0, rss_max, 0.12);
    let (count_range, count_ticks) = value_axis(Scale::Linear, 0.0, count_max, 0.12);
    let x_ticks: Vec<f64> = {
        let step = nice_step(x_max / 8.0);
        (0..).map(|i| f64::from(i) * step).take_while(|t| *t <= x_max * 1.0001).collect()
    };
    let phase = |key: &str| num(result, &["phases_s", key]).map(minutes);
    let p = |key: &str| num(result, &["params", key]);
    let mut subtitle = format!(
        "{} users, {} groups, {} s; {} C2C + {} group msg/s, {} reconnects/s",
        p("users").map(fmt_param).unwrap_or_default(),
        p("groups").map(fmt_param).unwrap_or_default(),
        p("seconds").map(fmt_param).unwrap_or_default(),
        p("c2c_per_sec").map(fmt_param).unwrap_or_default(),
        p("group_per_sec").map(fmt_param).unwrap_or_default(),
        p("reconnects_per_sec").map(fmt_param).unwrap_or_default(),
    );
    subtitle.push_str(if result.get("pass") == Some(&Value::Bool(true)) { "; every check passed" } else { "; FAILED" });

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let (plot, legend) = layout(&root, "Soak: parley's memory and descriptors over time", &subtitle)?;
    let mut ctx = ChartBuilder::on(&plot)
        .margin(10)
        .margin_right(10)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .right_y_label_area_size(65)
        .build_cartesian_2d(Axis::new(0.0..x_max, x_ticks), Axis::new(rss_range.clone(), rss_ticks))
        .map_err(draw_err)?
        .set_secondary_coord(Axis::new(0.0..x_max, Vec::new()), Axis::new(count_range, count_ticks));
    let x_label = |x: &f64| fmt_tick(*x);
    let y_label = |y: &f64| format!("{} ", fmt_tick(*y));
    ctx.configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc("minutes since the first login")
        .y_desc("server RSS, MB")
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .draw()
        .map_err(draw_err)?;
    ctx.configure_secondary_axes()
        .y_desc("descriptors / connections")
        .y_label_formatter(&y_label)
        .label_style(font(14.0))
        .axis_desc_style(font(15.0))
        .draw()
        .map_err(draw_err)?;
    // The traffic period shaded; the quarters the criterion compares shaded darker.
    let (top, bottom) = (rss_range.end, rss_range.start);
    if let (Some(start), Some(end)) = (phase("traffic_start"), phase("traffic_end")) {
        let span = end - start;
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(start, bottom), (end, top)],
            RGBColor(246, 246, 246).filled(),
        )))
        .map_err(draw_err)?;
        for (a, b) in [(0.25, 0.5), (0.75, 1.0)] {
            let area = [(start + a * span, bottom), (start + b * span, top)];
            ctx.draw_series(std::iter::once(Rectangle::new(area, RGBColor(232, 236, 244).filled())))
                .map_err(draw_err)?;
        }
    }
    let grey = RGBColor(150, 150, 150);
    // Labels one line apart, so the close ones (traffic end, sockets closed) stay readable.
    for (line, key) in ["traffic_start", "warm_up_end", "traffic_end", "sockets_closed"].into_iter().enumerate() {
        if let Some(x) = phase(key) {
            ctx.draw_series(LineSeries::new([(x, bottom), (x, top)], grey.stroke_width(1))).map_err(draw_err)?;
            let label = key.replace('_', " ");
            // Near the right edge the label goes left of its line.
            let (anchor, dx) = if x > 0.8 * x_max { (HPos::Right, -3) } else { (HPos::Left, 3) };
            let style = font(12.0).color(&RGBColor(90, 90, 90)).pos(Pos::new(anchor, VPos::Top));
            let offset = 2 + 14 * line as i32;
            let text = EmptyElement::at((x, top)) + Text::new(label, (dx, offset), style);
            ctx.draw_series(std::iter::once(text)).map_err(draw_err)?;
        }
    }
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    let green = RGBColor(44, 160, 44);
    ctx.draw_series(LineSeries::new(samples.iter().map(|s| (minutes(s[0]), s[1])), blue.stroke_width(3)))
        .map_err(draw_err)?;
    ctx.draw_secondary_series(LineSeries::new(samples.iter().map(|s| (minutes(s[0]), s[2])), orange.stroke_width(2)))
        .map_err(draw_err)?;
    ctx.draw_secondary_series(LineSeries::new(samples.iter().map(|s| (minutes(s[0]), s[4])), green.stroke_width(2)))
        .map_err(draw_err)?;
    let mut entries = vec![
        entry("server RSS (MB)", blue),
        entry("server fds", orange),
        entry("open connections", green),
        heading(""),
        heading("shaded: traffic;"),
        heading("darker: 2nd and 4th"),
        heading("quarters (RSS check)"),
    ];
    if let (Some(q2), Some(q4)) =
        (num(result, &["rss_mb", "second_quarter_mean"]), num(result, &["rss_mb", "last_quarter_mean"]))
    {
        entries.push(heading(""));
        entries.push(heading(&format!("Q2 mean {q2:.1} MB")));
        entries.push(heading(&format!("Q4 mean {q4:.1} MB")));
    }
    if let (Some(base), Some(after)) = (num(result, &["fds", "baseline"]), num(result, &["fds", "after_close"])) {
        entries.push(heading(&format!("fds {} → {}", fmt_param(base), fmt_param(after))));
    }
    draw_legend(&legend, &entries)?;
    root.present().map_err(draw_err)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Synthetic results covering all four charts (plus a few malformed entries that must be skipped).
    pub(super) fn synthetic() -> Value {
        let mut runs = Vec::new();
        let targets = [("parley-sqlite", 1.0), ("parley-postgres", 0.8), ("limit", 2.5), ("ejabberd", 0.6)];
        for (target, speed) in targets {
            for window in [1.0, 4.0, 16.0, 64.0] {
                let acked = speed * 9000.0 * (1.0 - (-window / 12.0f64).exp());
                runs.push(json!({
                    "scenario": "c2c-throughput", "target": target,
                    "params": {"pairs": 100, "window": window, "seconds": 10},
                    "metrics": {"acked_per_sec": acked, "delivered_per_sec": acked,
                        "latency_ms": {"p50": window / speed, "p99": 4.0 * window / speed, "p999": 9.0 * window / speed},
                        "server_cpu_cores": 1.7, "server_rss_mb": 80.0}
                }));
            }
            for (rate, of_best) in [(1000.0, 0.25), (2000.0, 0.5), (3200.0, 0.8)] {
                let load = rate / 1000.0;
                runs.push(json!({
                    "scenario": "c2c-latency", "target": target,
                    "params": {"pairs": 100, "rate_per_sec": rate, "of_best": of_best},
                    "metrics": {"delivered_per_sec": rate,
                        "latency_ms": {"p50": 0.4 * load / speed, "p99": 3.0 * load * load / speed, "p999": 25.0 / speed},
                        "server_cpu_cores": 0.4}
                }));
            }
            for (group, members) in [("public-1000", 1000.0), ("av-10000", 10000.0)] {
                let expected = members * 500.0;
                let lost = if target == "ejabberd" && members > 5000.0 { 0.93 } else { 1.0 };
                runs.push(json!({
                    "scenario": "group-fanout", "target": target,
                    "params": {"group": group, "members": members, "senders": 5, "rate_per_sec": 10},
                    "metrics": {"deliveries_per_sec": speed * members * 60.0 * lost,
                        "expected_deliveries": expected, "delivered": expected * lost,
                        "latency_ms": {"p50": 8.0, "p99": 40.0 / speed, "p999": 90.0},
                        "server_cpu_cores": 1.9, "server_rss_mb": 300.0}
                }));
            }
            runs.push(json!({
                "scenario": "connections", "target": target,
                "params": {"connections": 10000, "sources": 8},
                "metrics": {"logins_per_sec": 1500.0 * speed, "rss_per_conn_kb": 30.0 / speed,
                    "server_rss_mb": 400.0, "baseline_rss_mb": 60.0}
            }));
        }
        // Malformed entries: wrong types, missing fields, unknown scenario.
        runs.push(json!({"scenario": "c2c-throughput", "target": "limit", "params": {"window": "x"}}));
        runs.push(json!({"scenario": "connections", "target": 7, "metrics": {"rss_per_conn_kb": 1}}));
        runs.push(json!({"scenario": "group-fanout", "target": "limit", "params": {}, "metrics": null}));
        runs.push(json!({"scenario": "rest-sendmsg", "target": "parley-sqlite", "params": {"concurrency": 64},
            "metrics": {"req_per_sec": 4000.0, "latency_ms": {"p50": 10.0, "p99": 30.0}}}));
        runs.push(json!("not an object"));
        json!({"machine": {"cores": 2}, "quick": false, "commands": [], "runs": runs, "pending": []})
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("parley-charts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn charts_draws_all_five() {
        if let Err(err) = load_font() {
            println!("skipping: {err}");
            return;
        }
        let dir = temp_dir("all");
        let results = synthetic();
        let written = draw(&results, &dir).unwrap();
        let names =
            ["c2c-throughput.png", "c2c-latency.png", "c2c-latency-vs-rate.png", "group-fanout.png", "connections.png"];
        assert_eq!(written.len(), names.len(), "{written:?}");
        for name in names {
            let path = dir.join(name);
            assert!(written.contains(&path), "{name} not reported");
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(size > 1024, "{name} is only {size} bytes");
        }
        // For looking at the charts: `PARLEY_CHARTS_SAMPLE=/tmp/x.json cargo test … charts`, then
        // `parley-bench charts /tmp/x.json OUT_DIR`.
        if let Ok(sample) = std::env::var("PARLEY_CHARTS_SAMPLE") {
            std::fs::write(sample, serde_json::to_vec_pretty(&results).unwrap()).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn charts_skip_absent_data() {
        if let Err(err) = load_font() {
            println!("skipping: {err}");
            return;
        }
        let dir = temp_dir("absent");
        assert!(draw(&json!({}), &dir).unwrap().is_empty());
        assert!(draw(&json!({"runs": 5}), &dir).unwrap().is_empty());
        // Only throughput runs: the latency chart falls back to the largest window.
        let results = json!({"runs": [
            {"scenario": "c2c-throughput", "target": "parley-sqlite", "params": {"window": 4},
             "metrics": {"acked_per_sec": 100.0, "latency_ms": {"p50": 1.0, "p99": 2.0}}},
            {"scenario": "c2c-throughput", "target": "parley-sqlite", "params": {"window": 16},
             "metrics": {"acked_per_sec": 300.0, "latency_ms": {"p50": 3.0}}}
        ]});
        let written = draw(&results, &dir).unwrap();
        assert_eq!(written, vec![dir.join("c2c-throughput.png"), dir.join("c2c-latency.png")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn soak_chart_draws() {
        if let Err(err) = load_font() {
            println!("skipping: {err}");
            return;
        }
        let dir = temp_dir("soak");
        let path = dir.join("soak-rss.png");
        let samples: Vec<Value> =
            (0..100).map(|i| json!([i as f64 * 2.0, 60.0 + (i as f64).min(20.0), 40 + i % 7, 30, 500])).collect();
        let result = json!({"pass": true, "samples": samples,
            "params": {"users": 500, "groups": 50, "seconds": 150, "c2c_per_sec": 100, "group_per_sec": 10,
                       "reconnects_per_sec": 1},
            "phases_s": {"traffic_start": 20.0, "warm_up_end": 50.0, "traffic_end": 170.0, "sockets_closed": 180.0},
            "rss_mb": {"second_quarter_mean": 80.0, "last_quarter_mean": 80.5}, "fds": {"baseline": 30, "after_close": 31}});
        assert!(soak_chart(&result, &path).unwrap());
        assert!(std::fs::metadata(&path).unwrap().len() > 1024);
        assert!(!soak_chart(&json!({}), &path).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn charts_number_formats() {
        assert_eq!(fmt_num(12345.0), "12k");
        assert_eq!(fmt_num(1234.0), "1.2k");
        assert_eq!(fmt_num(0.42), "0.42");
        assert_eq!(fmt_tick(2000.0), "2k");
        assert_eq!(fmt_tick(0.5), "0.5");
        assert_eq!(fmt_tick(1500.0), "1.5k");
        assert_eq!(nice_step(1700.0), 2000.0);
    }
}

//! Hand-written SVG bar charts (no plotting dependency): grouped bars with
//! value labels, optional 95 % whiskers, per-group threshold marks and
//! full-width reference lines, a legend, a title and axis labels.

use std::fmt::Write as _;

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Height in data units.
    pub value: f64,
    /// Text printed on the bar.
    pub label: String,
    /// Fill; the series colour when `None`.
    pub color: Option<String>,
    /// Whisker (low, high) in data units.
    pub ci: Option<(f64, f64)>,
}

/// A dashed threshold drawn across one group only.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Position in data units.
    pub value: f64,
    /// Short text beside the line.
    pub label: String,
}

/// One x position: a label, one slot per series, threshold marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// x-axis label.
    pub label: String,
    /// One entry per series (`None`: no data).
    pub bars: Vec<Option<Bar>>,
    /// Thresholds of this group.
    pub marks: Vec<Mark>,
}

/// A reference line across the whole plot.
#[derive(Debug, Clone, PartialEq)]
pub struct HLine {
    /// Position in data units.
    pub value: f64,
    /// Text at its right end.
    pub label: String,
}

/// Legend swatch.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// Filled box.
    Fill(String),
    /// Dashed line.
    Dash(String),
    /// Error bar.
    Whisker,
}

/// A whole chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// Title.
    pub title: String,
    /// Second title line.
    pub subtitle: String,
    /// y-axis label.
    pub y_label: String,
    /// x-axis label.
    pub x_label: String,
    /// Series colours, one per bar slot.
    pub series: Vec<String>,
    /// Groups left to right.
    pub groups: Vec<Group>,
    /// Full-width lines.
    pub hlines: Vec<HLine>,
    /// Legend entries.
    pub legend: Vec<(Key, String)>,
}

/// Colours for series and statuses.
pub const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac",
];
/// Passing bar.
pub const GOOD: &str = "#59a14f";
/// Failing bar.
pub const BAD: &str = "#e15759";
/// Undecided bar.
pub const GREY: &str = "#9d9d9d";
/// Threshold lines.
pub const THRESHOLD: &str = "#c0392b";

const W: f64 = 880.0;
const H: f64 = 500.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 72.0;
const BOTTOM: f64 = 72.0;

/// XML text escaping.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A 1-2-5 step giving about `n` intervals over `span`.
pub fn nice_step(span: f64, n: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// y range (low, high, step) covering every value and 0.
pub fn y_range(values: &[f64]) -> (f64, f64, f64) {
    let mut lo = 0.0f64;
    let mut hi = 0.0f64;
    for &v in values.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo <= f64::EPSILON {
        hi = lo + 1.0;
    }
    // Room for the value labels above/below the bars.
    let pad = (hi - lo) * 0.10;
    if hi > 0.0 {
        hi += pad;
    }
    if lo < 0.0 {
        lo -= pad;
    }
    let step = nice_step(hi - lo, 6.0);
    ((lo / step).floor() * step, (hi / step).ceil() * step, step)
}

fn tick_text(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_owned()
    } else {
        s
    }
}

/// Renders the chart as a standalone SVG document.
pub fn render(c: &Chart) -> String {
    let mut vals: Vec<f64> = Vec::new();
    for g in &c.groups {
        for b in g.bars.iter().flatten() {
            vals.push(b.value);
            if let Some((lo, hi)) = b.ci {
                vals.extend([lo, hi]);
            }
        }
        vals.extend(g.marks.iter().map(|m| m.value));
    }
    vals.extend(c.hlines.iter().map(|h| h.value));
    let (lo, hi, step) = y_range(&vals);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Arial, sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="28" text-anchor="middle" font-size="17" font-weight="bold">{}</text>"#,
        (LEFT + pw / 2.0),
        esc(&c.title)
    );
    if !c.subtitle.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="50" text-anchor="middle" font-size="12" fill="#444">{}</text>"##,
            (LEFT + pw / 2.0),
            esc(&c.subtitle)
        );
    }
    // Grid and y ticks.
    let ticks = ((hi - lo) / step).round() as usize;
    for i in 0..=ticks {
        let t = lo + i as f64 * step;
        let yy = y(t);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e6e6e6"/>"##,
            LEFT + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
            LEFT - 6.0,
            yy + 4.0,
            tick_text(t, step)
        );
    }
    // Axes and the zero line.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#,
        TOP + ph
    );
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        y(0.0),
        LEFT + pw,
        y(0.0)
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(22,{:.1}) rotate(-90)" text-anchor="middle" font-size="13">{}</text>"#,
        TOP + ph / 2.0,
        esc(&c.y_label)
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{}</text>"#,
        LEFT + pw / 2.0,
        H - 18.0,
        esc(&c.x_label)
    );

    let n = c.groups.len().max(1) as f64;
    let gw = pw / n;
    for (gi, g) in c.groups.iter().enumerate() {
        let gx = LEFT + gi as f64 * gw;
        let inner = gw * 0.76;
        let x0 = gx + (gw - inner) / 2.0;
        let slots = g.bars.len().max(1) as f64;
        let bw = inner / slots;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
            gx + gw / 2.0,
            TOP + ph + 18.0,
            esc(&g.label)
        );
        for (k, b) in g.bars.iter().enumerate() {
            let Some(b) = b else { continue };
            let color = b
                .color
                .clone()
                .or_else(|| c.series.get(k).cloned())
                .unwrap_or_else(|| PALETTE[k % PALETTE.len()].to_owned());
            let bx = x0 + k as f64 * bw + bw * 0.08;
            let w = bw * 0.84;
            let (top, bot) = (y(b.value.max(0.0)), y(b.value.min(0.0)));
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{top:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
                (bot - top).max(0.5),
                esc(&color)
            );
            let cx = bx + w / 2.0;
            if let Some((l, h)) = b.ci {
                let cap = (w * 0.2).min(8.0);
                let _ = writeln!(
                    s,
                    r#"<path d="M{cx:.1},{:.1}V{:.1}M{:.1},{:.1}H{:.1}M{:.1},{:.1}H{:.1}" stroke="black" stroke-width="1.3" fill="none"/>"#,
                    y(l),
                    y(h),
                    cx - cap,
                    y(l),
                    cx + cap,
                    cx - cap,
                    y(h),
                    cx + cap
                );
            }
            let size = if w < 40.0 { 9 } else { 11 };
            let edge = match b.ci {
                Some((_, h)) if b.value >= 0.0 => y(h.max(b.value)),
                Some((l, _)) => y(l.min(b.value)),
                None if b.value >= 0.0 => top,
                None => bot,
            };
            let ly = if b.value >= 0.0 {
                edge - 4.0
            } else {
                edge + 12.0
            };
            let _ = writeln!(
                s,
                r#"<text x="{cx:.1}" y="{ly:.1}" text-anchor="middle" font-size="{size}">{}</text>"#,
                esc(&b.label)
            );
        }
        for m in &g.marks {
            let my = y(m.value);
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="{THRESHOLD}" stroke-width="2" stroke-dasharray="6,4"/>"#,
                gx + 4.0,
                gx + gw - 4.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="{THRESHOLD}">{}</text>"#,
                gx + gw - 4.0,
                my - 3.0,
                esc(&m.label)
            );
        }
    }
    for h in &c.hlines {
        let hy = y(h.value);
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{hy:.1}" x2="{:.1}" y2="{hy:.1}" stroke="{THRESHOLD}" stroke-width="2" stroke-dasharray="6,4"/>"#,
            LEFT + pw
        );
        // The label sits inside the plot, above the line at its left end
        // (the space right of the plot belongs to the legend), with a white
        // halo so a bar behind it does not hide it.
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="{THRESHOLD}" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"#,
            LEFT + 4.0,
            hy - 4.0,
            esc(&h.label)
        );
    }
    // Legend.
    let lx = W - RIGHT + 24.0;
    for (i, (key, text)) in c.legend.iter().enumerate() {
        let ly = TOP + 10.0 + i as f64 * 22.0;
        match key {
            Key::Fill(col) => {
                let _ = writeln!(
                    s,
                    r#"<rect x="{lx:.1}" y="{:.1}" width="14" height="12" fill="{}"/>"#,
                    ly - 10.0,
                    esc(col)
                );
            }
            Key::Dash(col) => {
                let _ = writeln!(
                    s,
                    r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2" stroke-dasharray="6,4"/>"#,
                    ly - 4.0,
                    lx + 16.0,
                    ly - 4.0,
                    esc(col)
                );
            }
            Key::Whisker => {
                let _ = writeln!(
                    s,
                    r#"<path d="M{:.1},{:.1}V{:.1}M{:.1},{:.1}H{:.1}M{:.1},{:.1}H{:.1}" stroke="black" stroke-width="1.3" fill="none"/>"#,
                    lx + 7.0,
                    ly - 11.0,
                    ly + 1.0,
                    lx + 3.0,
                    ly - 11.0,
                    lx + 11.0,
                    lx + 3.0,
                    ly + 1.0,
                    lx + 11.0
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{ly:.1}" font-size="12">{}</text>"#,
            lx + 22.0,
            esc(text)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "A <&> B".into(),
            subtitle: "sub".into(),
            y_label: "change, %".into(),
            x_label: "lane".into(),
            series: vec![PALETTE[0].into()],
            groups: vec![
                Group {
                    label: "main_r0".into(),
                    bars: vec![Some(Bar {
                        value: 4.5,
                        label: "+4.50%".into(),
                        color: Some(GOOD.into()),
                        ci: Some((1.0, 8.0)),
                    })],
                    marks: vec![Mark {
                        value: 3.0,
                        label: "gate +3%".into(),
                    }],
                },
                Group {
                    label: "guard_r0".into(),
                    bars: vec![None],
                    marks: vec![],
                },
            ],
            hlines: vec![HLine {
                value: -1.0,
                label: "floor".into(),
            }],
            legend: vec![
                (Key::Fill(GOOD.into()), "pass".into()),
                (Key::Dash(THRESHOLD.into()), "gate".into()),
                (Key::Whisker, "95% CI".into()),
            ],
        }
    }

    #[test]
    fn renders_a_wellformed_document() {
        let s = render(&chart());
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains("A &lt;&amp;&gt; B"));
        assert!(s.contains(">+4.50%<") && s.contains(">gate +3%<") && s.contains(">95% CI<"));
        // Every opened element is closed or self-closed.
        let opens = s.matches("<text").count();
        assert_eq!(opens, s.matches("</text>").count());
        assert_eq!(s.matches("<rect").count(), 1 + 1 + 1); // background, bar, legend
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }

    /// Every text's x of the element that carries `needle`.
    fn text_x(svg: &str, needle: &str) -> f64 {
        let line = svg
            .lines()
            .find(|l| l.starts_with("<text") && l.contains(needle))
            .unwrap_or_else(|| panic!("no text with {needle}"));
        let x = line
            .split("x=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        x.parse().unwrap()
    }

    #[test]
    fn reference_line_label_stays_out_of_the_legend() {
        let s = render(&chart());
        let legend_x = W - RIGHT + 24.0;
        let label = text_x(&s, ">floor<");
        assert!(
            (LEFT..legend_x - 100.0).contains(&label),
            "label at x={label}, legend at x={legend_x}"
        );
    }

    #[test]
    fn ranges_and_steps() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(0.3, 6.0), 0.05);
        assert_eq!(nice_step(0.0, 6.0), 1.0);
        let (lo, hi, step) = y_range(&[4.5, -1.0, 8.0]);
        assert!(lo <= -1.0 && hi >= 8.0 && step > 0.0);
        let (lo, hi, step) = y_range(&[]);
        assert_eq!((lo, step), (0.0, 0.2));
        assert!((hi - 1.2).abs() < 1e-9);
        let (lo, _, _) = y_range(&[0.1, 0.3]);
        assert_eq!(lo, 0.0);
        assert_eq!(tick_text(-0.0, 0.05), "0.00");
        assert_eq!(tick_text(2.0, 0.5), "2.0");
    }
}

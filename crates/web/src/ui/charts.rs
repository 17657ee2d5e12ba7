//! Charts drawn as SVG on the server (no script needed, printable).
//!
//! Every SVG element is written with an explicit end tag: in HTML, a foreign element
//! written `<rect>` without one would swallow its siblings.

use maud::{html, Markup};

/// The smallest "nice" number (1, 2 or 5 times a power of ten) at least `max`.
fn nice_ceiling(max: u64) -> u64 {
    if max == 0 {
        return 1;
    }
    let mut p = 1u64;
    while p.saturating_mul(10) <= max {
        p = p.saturating_mul(10);
    }
    for m in [1u64, 2, 5, 10] {
        if p.saturating_mul(m) >= max {
            return p.saturating_mul(m);
        }
    }
    p.saturating_mul(10)
}

/// Shortens a label to `n` characters.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Vertical bars: one per `(label, value)`; `fmt` formats values.
pub(crate) fn columns(title: &str, items: &[(String, u64)], fmt: &dyn Fn(u64) -> String) -> Markup {
    let marked: Vec<(String, u64, bool)> =
        items.iter().map(|(l, v)| (l.clone(), *v, false)).collect();
    columns_marked(title, &marked, fmt)
}

/// Vertical bars, those marked `true` drawn as projections (hatched in the stylesheet).
pub(crate) fn columns_marked(
    title: &str,
    items: &[(String, u64, bool)],
    fmt: &dyn Fn(u64) -> String,
) -> Markup {
    const W: f64 = 560.0;
    const H: f64 = 230.0;
    const LEFT: f64 = 52.0;
    const BOTTOM: f64 = 26.0;
    const TOP: f64 = 18.0;
    let max = nice_ceiling(items.iter().map(|(_, v, _)| *v).max().unwrap_or(0));
    let plot_h = H - BOTTOM - TOP;
    let n = items.len().max(1) as f64;
    let slot = (W - LEFT - 8.0) / n;
    let bar = (slot * 0.7).min(48.0);
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / max as f64;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) {
            title { (title) }
            @for i in 0..=4u64 {
                @let v = max * i / 4;
                line.grid x1=(LEFT) x2=(W - 4.0) y1=(y(v)) y2=(y(v)) {}
                text.axis x=(LEFT - 6.0) y=(y(v) + 4.0) text-anchor="end" { (fmt(v)) }
            }
            @for (i, (label, v, projected)) in items.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                rect class=(if *projected { "bar proj" } else { "bar" }) x=(format!("{x:.1}")) y=(format!("{:.1}", y(*v))) width=(format!("{bar:.1}")) height=(format!("{:.1}", TOP + plot_h - y(*v))) {
                    title { (label) ": " (fmt(*v)) }
                }
                text.val x=(format!("{:.1}", x + bar / 2.0)) y=(format!("{:.1}", y(*v) - 4.0)) text-anchor="middle" { (fmt(*v)) }
                text.axis x=(format!("{:.1}", x + bar / 2.0)) y=(H - 8.0) text-anchor="middle" { (label) }
            }
        }
    }
}

/// Horizontal bars, largest first as given: `(label, value, link)`.
pub(crate) fn rows(
    title: &str,
    items: &[(String, u64, Option<String>)],
    fmt: &dyn Fn(u64) -> String,
) -> Markup {
    // Drawn across a whole row of the page: a wide view box keeps text at its size.
    const W: f64 = 1100.0;
    const LABEL: f64 = 280.0;
    const ROW: f64 = 24.0;
    let h = ROW * items.len().max(1) as f64 + 8.0;
    let max = items.iter().map(|(_, v, _)| *v).max().unwrap_or(0).max(1);
    let span = W - LABEL - 90.0;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            @for (i, (label, v, href)) in items.iter().enumerate() {
                @let top = 4.0 + ROW * i as f64;
                @let w = (span * *v as f64 / max as f64).max(1.0);
                @if let Some(href) = href {
                    a href=(href) {
                        text.label x=(LABEL - 8.0) y=(top + 15.0) text-anchor="end" { (clip(label, 40)) title { (label) } }
                    }
                } @else {
                    text.label x=(LABEL - 8.0) y=(top + 15.0) text-anchor="end" { (clip(label, 40)) }
                }
                rect.bar x=(LABEL) y=(top + 3.0) width=(format!("{w:.1}")) height=(ROW - 8.0) { title { (label) ": " (fmt(*v)) } }
                text.val x=(format!("{:.1}", LABEL + w + 6.0)) y=(top + 15.0) { (fmt(*v)) }
            }
        }
    }
}

/// A 100% stacked bar with a legend: `(label, value, css class)`.
pub(crate) fn split(
    title: &str,
    parts: &[(String, u64, &'static str)],
    fmt: &dyn Fn(u64, u64) -> String,
) -> Markup {
    const W: f64 = 560.0;
    let total: u64 = parts.iter().map(|(_, v, _)| *v).sum();
    let mut x = 0.0;
    let placed: Vec<(&String, u64, &str, f64, f64)> = parts
        .iter()
        .map(|(label, v, class)| {
            let w = if total == 0 {
                0.0
            } else {
                W * *v as f64 / total as f64
            };
            let at = x;
            x += w;
            (label, *v, *class, at, w)
        })
        .collect();
    html! {
        svg.chart viewBox=(format!("0 0 {W} 44")) role="img" aria-label=(title) {
            title { (title) }
            @for (label, v, class, x, w) in &placed {
                rect class=(class) x=(format!("{x:.1}")) y="4" width=(format!("{w:.1}")) height="36" { title { (label) ": " (fmt(*v, total)) } }
                @if *w > 60.0 {
                    text.inbar x=(format!("{:.1}", x + w / 2.0)) y="27" text-anchor="middle" { (label) " " (fmt(*v, total)) }
                }
            }
        }
        ul.legend {
            @for (label, v, class) in parts {
                li { span class=(format!("sw {class}")) {} (label) ": " strong { (fmt(*v, total)) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(13), 20);
        assert_eq!(nice_ceiling(480), 500);
        assert_eq!(nice_ceiling(500), 500);
        assert_eq!(nice_ceiling(501), 1000);
    }

    #[test]
    fn svg_elements_are_closed() {
        let m = columns("t", &[("1".into(), 5)], &|v| v.to_string()).into_string();
        assert!(m.contains("</rect>") && m.contains("</line>"));
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}

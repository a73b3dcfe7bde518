//! The generated appearance of a seal: a red round Chinese official seal (公章 style) with an
//! outer ring, a five-pointed star in the centre, the department name along the upper arc and
//! the seal's kind along the bottom. Pure geometry, so the same figure can be drawn as PDF
//! operators for the visible stamp.

/// Seal red (GA 241-2000 style 朱红).
pub const RED: &str = "#d7000f";

/// The five outer and five inner points of a star centred at (cx, cy), first point up.
pub fn star_points(cx: f64, cy: f64, outer: f64) -> Vec<(f64, f64)> {
    let inner = outer * 0.381_966; // (3 - √5) / 2: the regular pentagram's ratio
    (0..10)
        .map(|i| {
            let r = if i % 2 == 0 { outer } else { inner };
            let angle = std::f64::consts::FRAC_PI_2 + f64::from(i) * std::f64::consts::PI / 5.0;
            (cx + r * angle.cos(), cy - r * angle.sin())
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The seal's kind as printed at its bottom.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "official" => "公章",
        "contract" => "合同专用章",
        "finance" => "财务专用章",
        "invoice" => "发票专用章",
        _ => "专用章",
    }
}

/// SVG of the seal, 200 × 200 user units.
pub fn svg(department_name: &str, kind: &str) -> String {
    let (cx, cy, r) = (100.0, 100.0, 92.0);
    let star: Vec<String> = star_points(cx, cy, 30.0)
        .iter()
        .map(|(x, y)| format!("{x:.2},{y:.2}"))
        .collect();
    // The name runs clockwise along an arc inside the ring, from lower left over the top to
    // lower right (about 240°), its size shrinking for long names.
    let chars = department_name.chars().count().max(1) as f64;
    let text_r = 70.0;
    let font = (240.0_f64.to_radians() * text_r / chars * 0.9).clamp(9.0, 22.0);
    let start = (210.0_f64).to_radians();
    let end = (-30.0_f64).to_radians();
    let (sx, sy) = (cx + text_r * start.cos(), cy - text_r * start.sin());
    let (ex, ey) = (cx + text_r * end.cos(), cy - text_r * end.sin());
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="200" height="200" role="img" aria-label="{label}">
<title>{label}</title>
<defs><path id="arc" d="M {sx:.2} {sy:.2} A {text_r} {text_r} 0 1 1 {ex:.2} {ey:.2}"/></defs>
<circle cx="{cx}" cy="{cy}" r="{r}" fill="none" stroke="{RED}" stroke-width="6"/>
<polygon points="{star}" fill="{RED}"/>
<text fill="{RED}" font-size="{font:.1}" font-family="'Songti SC','SimSun','Noto Serif CJK SC',serif" font-weight="bold" letter-spacing="1"><textPath href="#arc" startOffset="50%" text-anchor="middle">{name}</textPath></text>
<text x="{cx}" y="160" fill="{RED}" font-size="16" font-family="'Songti SC','SimSun','Noto Serif CJK SC',serif" font-weight="bold" text-anchor="middle">{kind}</text>
</svg>
"##,
        label = esc(&format!("{department_name} {}", kind_label(kind))),
        star = star.join(" "),
        name = esc(department_name),
        kind = kind_label(kind),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_is_regular_and_upright() {
        let pts = star_points(0.0, 0.0, 10.0);
        assert_eq!(pts.len(), 10);
        assert!(
            (pts[0].0).abs() < 1e-9 && (pts[0].1 + 10.0).abs() < 1e-9,
            "first point straight up"
        );
        for (i, (x, y)) in pts.iter().enumerate() {
            let r = (x * x + y * y).sqrt();
            let expected = if i % 2 == 0 { 10.0 } else { 3.81966 };
            assert!((r - expected).abs() < 1e-3);
        }
    }

    #[test]
    fn svg_escapes_names() {
        let s = svg("<b>局&", "official");
        assert!(s.contains("&lt;b&gt;局&amp;") && !s.contains("<b>"));
        assert!(s.contains("公章") && s.contains(RED));
    }
}

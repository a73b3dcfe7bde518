//! The generated appearance of a seal: a red round Chinese official seal (公章 style) with an
//! outer ring, a five-pointed star in the centre, the department name along the upper arc and
//! the seal's kind along the bottom.
//!
//! The figure is laid out once, in a 200 × 200 box with the y axis pointing down, as filled
//! paths: the text is drawn from the glyph outlines of a bundled, freely licensed CJK font
//! (a GB 2312 subset of Noto Sans CJK SC Bold, SIL OFL 1.1, see `font/LICENSE-OFL.txt`), so the
//! seal looks the same in every PDF viewer and browser without any font installed. The same
//! paths are written as SVG and as PDF path operators.

use std::fmt::Write;
use std::sync::OnceLock;

/// Seal red (GA 241-2000 style 朱红).
pub const RED: &str = "#d7000f";
/// The same red as PDF `rg` operands.
pub const RED_PDF: &str = "0.843 0 0.059";

/// Side of the layout box.
const SIZE: f64 = 200.0;
const CENTRE: f64 = SIZE / 2.0;
const RING_RADIUS: f64 = 92.0;
const RING_WIDTH: f64 = 6.0;
const STAR_RADIUS: f64 = 30.0;

static FONT_DATA: &[u8] = include_bytes!("font/NotoSansSC-Bold-GB2312.otf");

fn font() -> Option<&'static ttf_parser::Face<'static>> {
    static FACE: OnceLock<Option<ttf_parser::Face<'static>>> = OnceLock::new();
    FACE.get_or_init(|| ttf_parser::Face::parse(FONT_DATA, 0).ok())
        .as_ref()
}

/// One segment of a path, in layout coordinates (y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Segment {
    Move(f64, f64),
    Line(f64, f64),
    Cubic(f64, f64, f64, f64, f64, f64),
    Close,
}

/// The five outer and five inner points of a star centred at (cx, cy), first point up (y down).
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

/// Collects a glyph outline, mapping font units through an affine map into layout space.
struct Collector<'a> {
    out: &'a mut Vec<Segment>,
    /// (a, b, c, d, e, f): x' = a·x + c·y + e, y' = b·x + d·y + f.
    m: [f64; 6],
    last: (f64, f64),
}

impl Collector<'_> {
    fn map(&self, x: f32, y: f32) -> (f64, f64) {
        let (x, y) = (f64::from(x), f64::from(y));
        let [a, b, c, d, e, f] = self.m;
        (a * x + c * y + e, b * x + d * y + f)
    }
}

impl ttf_parser::OutlineBuilder for Collector<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let p = self.map(x, y);
        self.out.push(Segment::Move(p.0, p.1));
        self.last = p;
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.map(x, y);
        self.out.push(Segment::Line(p.0, p.1));
        self.last = p;
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        // A quadratic Bézier as the cubic with control points 2/3 of the way to (x1, y1).
        let q = self.map(x1, y1);
        let p = self.map(x, y);
        let (l0, l1) = self.last;
        self.out.push(Segment::Cubic(
            l0 + 2.0 / 3.0 * (q.0 - l0),
            l1 + 2.0 / 3.0 * (q.1 - l1),
            p.0 + 2.0 / 3.0 * (q.0 - p.0),
            p.1 + 2.0 / 3.0 * (q.1 - p.1),
            p.0,
            p.1,
        ));
        self.last = p;
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let a = self.map(x1, y1);
        let b = self.map(x2, y2);
        let p = self.map(x, y);
        self.out.push(Segment::Cubic(a.0, a.1, b.0, b.1, p.0, p.1));
        self.last = p;
    }
    fn close(&mut self) {
        self.out.push(Segment::Close);
    }
}

/// Draws `c` with its advance centred on the origin and its baseline on y = 0 (font units,
/// y up), then maps it with `m` (font units → layout). A character the font lacks is drawn as
/// the font's missing-glyph box.
fn glyph(out: &mut Vec<Segment>, c: char, m: [f64; 6]) {
    let Some(face) = font() else { return };
    let id = face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
    let advance = f64::from(face.glyph_hor_advance(id).unwrap_or(face.units_per_em()));
    // Shift by half the advance so the glyph is centred on the origin.
    let [a, b, c2, d, e, f] = m;
    let shifted = [a, b, c2, d, e - a * advance / 2.0, f - b * advance / 2.0];
    let mut collector = Collector {
        out,
        m: shifted,
        last: (0.0, 0.0),
    };
    face.outline_glyph(id, &mut collector);
}

fn units_per_em() -> f64 {
    font().map_or(1000.0, |f| f64::from(f.units_per_em()))
}

/// The text paths: the name along the upper arc, reading clockwise, each character upright
/// towards the ring; the kind in a straight line under the star.
fn text_paths(department_name: &str, kind: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let em = units_per_em();
    let chars: Vec<char> = department_name
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let n = chars.len().max(1) as f64;
    // Glyph size shrinks for long names; the arc spans at most 250°.
    let max_span = 250.0_f64.to_radians();
    let size = (max_span * 66.0 / n * 0.92).clamp(8.0, 26.0);
    let ascent = 0.88 * size;
    let baseline = RING_RADIUS - RING_WIDTH / 2.0 - 4.0 - ascent;
    let step = (max_span / n).min(size * 1.08 / (baseline + size / 2.0));
    let first = std::f64::consts::FRAC_PI_2 + step * (n - 1.0) / 2.0;
    let scale = size / em;
    for (i, c) in chars.iter().enumerate() {
        let theta = first - step * i as f64;
        // Radial (outwards) and tangent (reading direction, clockwise) unit vectors, y up.
        let (ux, uy) = (theta.cos(), theta.sin());
        let (tx, ty) = (theta.sin(), -theta.cos());
        // Font (x, y) → y-up point centre + baseline·u + x·t + y·u → y-down layout.
        let m = [
            scale * tx,
            -scale * ty,
            scale * ux,
            -scale * uy,
            CENTRE + baseline * ux,
            CENTRE - baseline * uy,
        ];
        glyph(&mut out, *c, m);
    }
    let label: Vec<char> = kind_label(kind).chars().collect();
    let size = 17.0;
    let scale = size / em;
    let pitch = size * 1.05;
    let left = CENTRE - pitch * (label.len() as f64 - 1.0) / 2.0;
    for (i, c) in label.iter().enumerate() {
        let m = [scale, 0.0, 0.0, -scale, left + pitch * i as f64, 163.0];
        glyph(&mut out, *c, m);
    }
    out
}

/// The filled figure: the star and the text (the ring is stroked separately).
fn filled_paths(department_name: &str, kind: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for (i, (x, y)) in star_points(CENTRE, CENTRE, STAR_RADIUS).iter().enumerate() {
        out.push(if i == 0 {
            Segment::Move(*x, *y)
        } else {
            Segment::Line(*x, *y)
        });
    }
    out.push(Segment::Close);
    out.extend(text_paths(department_name, kind));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// SVG of the seal, 200 × 200 user units; the text is in the `<title>` for screen readers.
pub fn svg(department_name: &str, kind: &str) -> String {
    let mut d = String::new();
    for s in filled_paths(department_name, kind) {
        let _ = match s {
            Segment::Move(x, y) => write!(d, "M{x:.2} {y:.2}"),
            Segment::Line(x, y) => write!(d, "L{x:.2} {y:.2}"),
            Segment::Cubic(a, b, c, e, x, y) => {
                write!(d, "C{a:.2} {b:.2} {c:.2} {e:.2} {x:.2} {y:.2}")
            }
            Segment::Close => write!(d, "Z"),
        };
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" role="img" aria-label="{label}">
<title>{label}</title>
<circle cx="{CENTRE}" cy="{CENTRE}" r="{RING_RADIUS}" fill="none" stroke="{RED}" stroke-width="{RING_WIDTH}"/>
<path fill="{RED}" fill-rule="nonzero" d="{d}"/>
</svg>
"##,
        label = esc(&format!("{department_name} {}", kind_label(kind))),
    )
}

/// SVG showing the department's uploaded PNG in the same 200 × 200 box.
pub fn svg_with_image(department_name: &str, kind: &str, png: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" role="img" aria-label="{label}">
<title>{label}</title>
<image width="{SIZE}" height="{SIZE}" preserveAspectRatio="xMidYMid meet" href="data:image/png;base64,{data}"/>
</svg>
"##,
        label = esc(&format!("{department_name} {}", kind_label(kind))),
        data = base64::engine::general_purpose::STANDARD.encode(png),
    )
}

/// The seal as PDF content operators in a `width × height` box (the seal is a circle of the
/// smaller side, centred).
pub fn pdf_operators(width: f64, height: f64, department_name: &str, kind: &str) -> Vec<u8> {
    let side = width.min(height);
    let k = side / SIZE;
    let (dx, dy) = ((width - side) / 2.0, (height - side) / 2.0);
    // Layout (y down, 200 units) → PDF (y up, `side` points).
    let mut s = format!(
        "q {k:.5} 0 0 {neg:.5} {dx:.3} {top:.3} cm {RED_PDF} RG {RED_PDF} rg {RING_WIDTH} w\n",
        neg = -k,
        top = dy + side,
    );
    // The ring: a circle from four Bézier arcs (kappa = 0.5523).
    let (c, r) = (CENTRE, RING_RADIUS);
    let q = 0.552_284_75 * r;
    let _ = writeln!(
        s,
        "{x0} {c} m {x0} {a} {b} {y0} {c} {y0} c {e} {y0} {x1} {a} {x1} {c} c \
         {x1} {f} {e} {y1} {c} {y1} c {b} {y1} {x0} {f} {x0} {c} c S",
        x0 = c - r,
        x1 = c + r,
        y0 = c - r,
        y1 = c + r,
        a = c - q,
        f = c + q,
        b = c - q,
        e = c + q,
    );
    for seg in filled_paths(department_name, kind) {
        let _ = match seg {
            Segment::Move(x, y) => writeln!(s, "{x:.2} {y:.2} m"),
            Segment::Line(x, y) => writeln!(s, "{x:.2} {y:.2} l"),
            Segment::Cubic(a, b, c, e, x, y) => {
                writeln!(s, "{a:.2} {b:.2} {c:.2} {e:.2} {x:.2} {y:.2} c")
            }
            Segment::Close => writeln!(s, "h"),
        };
    }
    s.push_str("f Q\n");
    s.into_bytes()
}

/// [`pdf_operators`] compressed with FlateDecode, remembered for the same department, kind and
/// box (a department stamps with the same few seals over and over).
pub fn pdf_operators_deflated(
    width: f64,
    height: f64,
    department_name: &str,
    kind: &str,
) -> std::sync::Arc<Vec<u8>> {
    use std::collections::HashMap;
    use std::io::Write as _;
    use std::sync::{Arc, Mutex};
    type Key = (String, String, u64, u64);
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<Vec<u8>>>>> = OnceLock::new();
    let key = (
        department_name.to_owned(),
        kind.to_owned(),
        width.to_bits(),
        height.to_bits(),
    );
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let raw = pdf_operators(width, height, department_name, kind);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let deflated = match z.write_all(&raw).and_then(|()| z.finish()) {
        Ok(d) => Arc::new(d),
        Err(_) => return Arc::new(Vec::new()),
    };
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(key, deflated.clone());
    }
    deflated
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

    /// Every point of a path, for bounds checks.
    fn points(path: &[Segment]) -> Vec<(f64, f64)> {
        path.iter()
            .flat_map(|s| match *s {
                Segment::Move(x, y) | Segment::Line(x, y) => vec![(x, y)],
                Segment::Cubic(a, b, c, d, x, y) => vec![(a, b), (c, d), (x, y)],
                Segment::Close => vec![],
            })
            .collect()
    }

    #[test]
    fn the_font_draws_chinese_and_text_stays_inside_the_ring() {
        let face = font().expect("the bundled font parses");
        for c in "福州市人民政府公章合同专用章财务发票（）ABC123".chars() {
            assert!(face.glyph_index(c).is_some(), "{c} is in the font");
        }
        for name in [
            "局",
            "福州市人民政府",
            "国家市场监督管理总局某某省某某市某某区分局行政审批服务科",
        ] {
            let path = text_paths(name, "contract");
            let pts = points(&path);
            assert!(
                pts.len() > 20 * name.chars().count(),
                "{name}: outlines drawn"
            );
            for (x, y) in pts {
                let r = ((x - CENTRE).powi(2) + (y - CENTRE).powi(2)).sqrt();
                assert!(
                    r < RING_RADIUS - RING_WIDTH / 2.0,
                    "{name}: ({x}, {y}) inside the ring"
                );
            }
        }
    }

    #[test]
    fn name_reads_clockwise_over_the_top() {
        // The first character sits left of the centre, the last right of it, both above it.
        let first = points(&text_paths("甲", "official"));
        let two = points(&text_paths("甲乙丙丁戊", "official"));
        let kind_points = points(&text_paths("", "official")).len();
        let name_points = &two[..two.len() - kind_points];
        let first_x = name_points[0].0;
        let last_x = name_points[name_points.len() - 1].0;
        assert!(first_x < CENTRE && last_x > CENTRE);
        assert!(name_points.iter().all(|(_, y)| *y < CENTRE));
        assert!(!first.is_empty());
    }

    #[test]
    fn pdf_operators_are_balanced() {
        let ops =
            String::from_utf8(pdf_operators(150.0, 90.0, "福州市人民政府", "official")).unwrap();
        assert!(ops.starts_with("q ") && ops.ends_with("f Q\n"));
        assert!(ops.contains(" c\n") && ops.contains(" S\n"));
        // Centred in a wide box: the scale is the height's.
        assert!(ops.starts_with("q 0.45000 0 0 -0.45000 30.000 90.000 cm"));
    }
}

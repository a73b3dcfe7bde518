//! QR codes of a licence's verification URL, as SVG and PNG (ISO/IEC 18004, level M).

use qrcode::{Color, EcLevel, QrCode};

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the URL does not fit a QR code")]
    TooLong,
    #[error("PNG encoding failed")]
    Png,
}

/// Pixels per module in the PNG and the quiet zone in modules (ISO/IEC 18004 asks for 4).
const SCALE: usize = 8;
const QUIET: usize = 4;

fn code(url: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).map_err(|_| QrError::TooLong)
}

/// The QR symbol version chosen for `url` (1..=40).
pub fn version(url: &str) -> Result<i16, QrError> {
    match code(url)?.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => Ok(v),
    }
}

pub fn svg(url: &str) -> Result<String, QrError> {
    Ok(code(url)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

pub fn png(url: &str) -> Result<Vec<u8>, QrError> {
    let code = code(url)?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                let row = y * side;
                pixels[row + mx * SCALE..row + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let side = u32::try_from(side).map_err(|_| QrError::TooLong)?;
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|_| QrError::Png)?;
        writer.write_image_data(&pixels).map_err(|_| QrError::Png)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_url_fits_version_6_at_level_m() {
        let url = "http://127.0.0.1:8080/v/1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.K7Q2M9X4T1B8C5D6E3F0.001.B";
        assert!(
            version(url).unwrap() <= 6,
            "version {}",
            version(url).unwrap()
        );
        assert!(svg(url).unwrap().starts_with("<?xml"));
        let png = png(url).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}

//! A department's own seal image (PNG), checked on upload and drawn into the PDF as an image
//! XObject with its transparency as a soft mask.

/// Largest PNG accepted, and its largest side in pixels.
pub const MAX_PNG_BYTES: usize = 1024 * 1024;
pub const MAX_SIDE: u32 = 2048;

/// A decoded image: 8-bit RGB samples and, when the PNG has transparency, 8-bit alpha.
#[derive(Clone)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    pub alpha: Option<Vec<u8>>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}x{})", self.width, self.height)
    }
}

/// Decodes a PNG (any colour type and depth), refusing what is not one, too large, or with a
/// side over [`MAX_SIDE`]. The message says what is wrong.
pub fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    if bytes.len() > MAX_PNG_BYTES {
        return Err(format!("the image is larger than {MAX_PNG_BYTES} bytes"));
    }
    let mut decoder = png::Decoder::new_with_limits(
        bytes,
        png::Limits {
            bytes: 4 * (MAX_SIDE as usize) * (MAX_SIDE as usize) + 1024,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a readable PNG image: {e}"))?;
    let (width, height) = reader.info().size();
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "the image is {width}x{height} pixels; each side must be 1 to {MAX_SIDE}"
        ));
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("not a readable PNG image: {e}"))?;
    buf.truncate(info.buffer_size());
    let pixels = (width * height) as usize;
    let (rgb, alpha): (Vec<u8>, Option<Vec<u8>>) = match info.color_type {
        png::ColorType::Rgb => (buf, None),
        png::ColorType::Rgba => {
            let mut rgb = Vec::with_capacity(pixels * 3);
            let mut alpha = Vec::with_capacity(pixels);
            for px in buf.chunks_exact(4) {
                rgb.extend_from_slice(&px[..3]);
                alpha.push(px[3]);
            }
            (rgb, Some(alpha))
        }
        png::ColorType::Grayscale => (buf.iter().flat_map(|g| [*g, *g, *g]).collect(), None),
        png::ColorType::GrayscaleAlpha => {
            let mut rgb = Vec::with_capacity(pixels * 3);
            let mut alpha = Vec::with_capacity(pixels);
            for px in buf.chunks_exact(2) {
                rgb.extend_from_slice(&[px[0], px[0], px[0]]);
                alpha.push(px[1]);
            }
            (rgb, Some(alpha))
        }
        png::ColorType::Indexed => return Err("the PNG palette could not be expanded".into()),
    };
    if rgb.len() != pixels * 3 {
        return Err("the PNG image data is incomplete".into());
    }
    Ok(Image {
        width,
        height,
        rgb,
        alpha,
    })
}

#[cfg(test)]
pub fn test_png(width: u32, height: u32, color: png::ColorType) -> Vec<u8> {
    let channels = match color {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        png::ColorType::GrayscaleAlpha => 2,
        _ => 1,
    };
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..width * height * channels)
            .map(|i| (i % 255) as u8)
            .collect();
        w.write_image_data(&data).unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_colour_type_to_rgb_and_alpha() {
        for (color, has_alpha) in [
            (png::ColorType::Rgba, true),
            (png::ColorType::Rgb, false),
            (png::ColorType::Grayscale, false),
            (png::ColorType::GrayscaleAlpha, true),
        ] {
            let img = decode_png(&test_png(30, 20, color)).unwrap();
            assert_eq!((img.width, img.height), (30, 20));
            assert_eq!(img.rgb.len(), 30 * 20 * 3);
            assert_eq!(img.alpha.is_some(), has_alpha, "{color:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_sensible_png() {
        assert!(decode_png(b"GIF89a")
            .unwrap_err()
            .contains("not a readable PNG"));
        let png = test_png(30, 20, png::ColorType::Rgb);
        assert!(decode_png(&png[..png.len() - 20]).is_err());
        assert!(
            decode_png(&test_png(MAX_SIDE + 1, 1, png::ColorType::Grayscale))
                .unwrap_err()
                .contains("each side")
        );
        assert!(decode_png(&vec![0; MAX_PNG_BYTES + 1]).is_err());
    }
}

//! The decoder of a department's own seal image (`PUT /api/v1/seals/{id}/appearance`): PNG
//! signature, size and dimension limits, every colour type and bit depth, and the conversion
//! to the RGB image and alpha mask drawn into stamps, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = trustd::seal::image::decode_png(data) {
        // What was accepted must be drawable: the pixel data has the size it claims.
        let (w, h) = (image.width as usize, image.height as usize);
        assert_eq!(image.rgb.len(), w * h * 3);
        if let Some(alpha) = &image.alpha {
            assert_eq!(alpha.len(), w * h);
        }
    }
});

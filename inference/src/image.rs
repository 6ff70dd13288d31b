//! Image decoding with limits, and CLIP preprocessing.
//!
//! Decoding refuses, in this order and before any pixel buffer is allocated: empty input,
//! more encoded bytes than allowed, formats other than PNG/JPEG/WebP/GIF, and headers that
//! announce more pixels than allowed (a decompression bomb is a few hundred bytes announcing
//! gigapixels). Animated GIF and WebP yield their first frame. Every refusal is an
//! [`ImageError`], which is the client's doing.
//!
//! CLIP preprocessing follows OpenAI's (resize the shortest side to 224 with bicubic
//! filtering, centre-crop 224×224, scale to 0..1, normalise with CLIP's mean and std, NCHW
//! float32) with one reordering for speed: the centred square is cropped first and resized
//! once to 224×224, and images more than 4× larger than that are first shrunk by area
//! averaging. The result differs from the reference by sub-pixel resampling only.

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::ImageError;

/// CLIP's per-channel mean (RGB).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel standard deviation (RGB).
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];
/// CLIP's input size.
pub const CLIP_SIZE: u32 = 224;

/// Limits applied before decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageLimits {
    /// Largest encoded image (bytes after base64 decoding).
    pub max_bytes: u64,
    /// Largest image in pixels (width × height from the header).
    pub max_pixels: u64,
}

impl ImageLimits {
    /// The limits of the router's configuration (`maxImageBytes`, `maxImagePixels`).
    pub fn from_config(limits: &switchyard_crds::config::Limits) -> Self {
        Self {
            max_bytes: limits.max_image_bytes,
            max_pixels: limits.max_image_pixels,
        }
    }
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self::from_config(&switchyard_crds::config::Limits::default())
    }
}

/// Decodes PNG, JPEG, WebP or GIF (first frame) into RGB, refusing oversized input before
/// allocating pixel memory.
pub fn decode_image(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let len = bytes.len() as u64;
    if len > limits.max_bytes {
        return Err(ImageError::TooLarge {
            bytes: len,
            max: limits.max_bytes,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Corrupt(image::ImageError::IoError(e)))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif) => {}
        _ => return Err(ImageError::Unsupported),
    }
    // The decoder's own allocation cap: the RGBA output plus as much again for its buffers.
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(16 << 20));
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(map_decode_error)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    let image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        },
        other => map_decode_error(other),
    })?;
    Ok(image.into_rgb8())
}

fn map_decode_error(e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Unsupported(_) => ImageError::Unsupported,
        other => ImageError::Corrupt(other),
    }
}

/// CLIP preprocessing of a decoded image into a `3 × size × size` NCHW float vector (one
/// batch row).
pub fn clip_preprocess(image: &RgbImage, size: u32) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let side = w.min(h).max(1);
    let square = imageops::crop_imm(
        image,
        (w - side.min(w)) / 2,
        (h - side.min(h)) / 2,
        side,
        side,
    );
    let resized = if side >= size.saturating_mul(4) {
        let shrunk: RgbImage = imageops::thumbnail(&*square, size * 2, size * 2);
        imageops::resize(&shrunk, size, size, FilterType::CatmullRom)
    } else {
        imageops::resize(&*square, size, size, FilterType::CatmullRom)
    };
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in resized.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px.0[c]) / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn limits() -> ImageLimits {
        ImageLimits {
            max_bytes: 1 << 20,
            max_pixels: 1 << 20,
        }
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]))
    }

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_the_four_formats() {
        let img = DynamicImage::ImageRgb8(gradient(40, 30));
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(40, 30, |x, _| {
            Rgba([x as u8, 0, 0, 255])
        }));
        for (bytes, name) in [
            (encode(&img, ImageFormat::Png), "png"),
            (encode(&img, ImageFormat::Jpeg), "jpeg"),
            (encode(&img, ImageFormat::WebP), "webp"),
            (encode(&rgba, ImageFormat::Gif), "gif"),
        ] {
            let out = decode_image(&bytes, &limits()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out.dimensions(), (40, 30), "{name}");
        }
    }

    #[test]
    fn refuses_bad_input_with_client_errors() {
        let l = limits();
        assert!(matches!(decode_image(b"", &l), Err(ImageError::Empty)));
        assert!(matches!(
            decode_image(b"definitely not an image", &l),
            Err(ImageError::Unsupported)
        ));
        let mut png = encode(&DynamicImage::ImageRgb8(gradient(64, 64)), ImageFormat::Png);
        let half = png.len() / 2;
        png.truncate(half);
        assert!(matches!(
            decode_image(&png, &l),
            Err(ImageError::Corrupt(_))
        ));
        let big = vec![0u8; 2 << 20];
        assert!(matches!(
            decode_image(&big, &l),
            Err(ImageError::TooLarge { .. })
        ));
        let bmp = b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00";
        assert!(matches!(
            decode_image(bmp, &l),
            Err(ImageError::Unsupported)
        ));
    }

    /// A PNG announcing 100000 × 100000 pixels (30 GB of RGB) in a few dozen bytes: refused
    /// from the header, before any allocation.
    #[test]
    fn decompression_bomb_header_is_refused_before_decoding() {
        let mut png = Vec::new();
        png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&ihdr);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        // A first IDAT chunk (zlib of one zero byte) where the decoder stops reading headers;
        // a real bomb continues with megabytes of compressed zeros.
        let idat_data = [0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01];
        png.extend_from_slice(&(idat_data.len() as u32).to_be_bytes());
        let mut idat = b"IDAT".to_vec();
        idat.extend_from_slice(&idat_data);
        png.extend_from_slice(&idat);
        png.extend_from_slice(&crc32(&idat).to_be_bytes());
        let err = decode_image(&png, &limits()).unwrap_err();
        match err {
            ImageError::TooManyPixels { width, height, .. } => {
                assert_eq!((width, height), (100_000, 100_000));
            }
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn clip_preprocess_is_nchw_normalised() {
        // A uniform mid-grey image must map to (0.5 - mean) / std in every plane.
        let grey: RgbImage = ImageBuffer::from_pixel(300, 500, Rgb([128, 128, 128]));
        let out = clip_preprocess(&grey, CLIP_SIZE);
        let plane = (CLIP_SIZE * CLIP_SIZE) as usize;
        assert_eq!(out.len(), 3 * plane);
        for c in 0..3 {
            let want = (128.0 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
            assert!((out[c * plane] - want).abs() < 1e-4);
            assert!((out[c * plane + plane - 1] - want).abs() < 1e-4);
        }
        // The centre crop keeps the middle: a wide image whose left and right thirds are red
        // and whose middle is blue becomes all blue.
        let wide: RgbImage = ImageBuffer::from_fn(900, 300, |x, _| {
            if (300..600).contains(&x) {
                Rgb([0, 0, 255])
            } else {
                Rgb([255, 0, 0])
            }
        });
        let out = clip_preprocess(&wide, CLIP_SIZE);
        let red0 = (0.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        assert!((out[0] - red0).abs() < 1e-3, "left edge must not be red");
        // Huge images take the shrink-first path and give the same planes for flat colour.
        let huge: RgbImage = ImageBuffer::from_pixel(2000, 1000, Rgb([128, 128, 128]));
        let out = clip_preprocess(&huge, CLIP_SIZE);
        let want = (128.0 / 255.0 - CLIP_MEAN[1]) / CLIP_STD[1];
        assert!((out[plane + 17] - want).abs() < 1e-3);
    }
}

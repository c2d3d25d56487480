//! Checking a drawn figure, as `star report check` does for a run directory's PNG files.

use crate::error::{EvalError, Result};
use std::path::Path;

/// Checks that `path` is a PNG figure with something drawn on it: it decodes, and at least
/// 1% of its pixels are not white. Returns its width and height.
pub fn check_png(path: &Path) -> Result<(u32, u32)> {
    let invalid = |problem: String| EvalError::Invalid {
        path: path.to_path_buf(),
        problems: vec![problem],
    };
    let file = std::fs::File::open(path).map_err(|e| EvalError::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| invalid(format!("not a PNG: {e}")))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| invalid(format!("cannot decode the image: {e}")))?;
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let colour = channels.min(3);
    let drawn = pixels
        .chunks_exact(channels)
        .filter(|p| p[..colour].iter().any(|&c| c < 250))
        .count();
    let total = (info.width as usize * info.height as usize).max(1);
    if drawn * 100 < total {
        return Err(invalid(format!(
            "{}x{} image is blank ({drawn} of {total} pixels drawn)",
            info.width, info.height
        )));
    }
    Ok((info.width, info.height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::canvas::render;

    #[test]
    fn check_png_refuses_what_is_not_a_drawn_figure() {
        let dir = tempfile::tempdir().unwrap();
        let blank = dir.path().join("blank.png");
        render(&blank, (50, 40), |_| Ok(())).unwrap();
        let err = check_png(&blank).unwrap_err().to_string();
        assert!(
            err.contains("blank.png") && err.contains("blank (0 of 2000"),
            "{err}"
        );
        std::fs::write(&blank, b"not a png").unwrap();
        assert!(check_png(&blank)
            .unwrap_err()
            .to_string()
            .contains("not a PNG"));
        assert!(check_png(&dir.path().join("missing.png"))
            .unwrap_err()
            .to_string()
            .contains("missing.png"));
    }
}

//! Pictures of an evaluation: quality against the share of calls to the strong model, with
//! the random and oracle routers for reference (PNG and SVG through `plotters`).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::eval::EvalReport;

const SIZE: (u32, u32) = (900, 620);

/// Draws `report` to `path` (PNG) and to the same path with an `.svg` extension.
pub fn plot(report: &EvalReport, path: &Path) -> Result<()> {
    let err = |message: String| Error::Plot {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        draw(&root, report).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    let svg = path.with_extension("svg");
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(&root, report).map_err(|m| Error::Plot {
            path: svg.clone(),
            message: m,
        })?;
        root.present().map_err(|e| Error::Plot {
            path: svg.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

fn pct(points: &[[f64; 2]]) -> Vec<(f64, f64)> {
    points
        .iter()
        .map(|p| (p[0] * 100.0, p[1] * 100.0))
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &EvalReport,
) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let Some(pair) = &report.pair else {
        return draw_cost(root, report);
    };
    let mut all: Vec<f64> = Vec::new();
    for c in [
        &pair.router,
        &pair.oracle,
        &pair.random,
        &pair.threshold_rule,
    ] {
        all.extend(c.curve.points.iter().map(|p| p[1] * 100.0));
    }
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(0.5);
    let apgr = |s: &Option<crate::metrics::PairSummary>| {
        s.as_ref()
            .map(|s| format!("{:.3}", s.apgr))
            .unwrap_or_else(|| "n/a".to_owned())
    };
    let title = format!("{}: {} vs {}", report.label, pair.strong, pair.weak);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..100f64, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(format!("calls to {} (%)", pair.strong))
        .y_desc("quality: answered correctly (%)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    let series = [
        (
            &pair.oracle,
            RGBColor(46, 139, 87),
            format!("oracle (APGR {})", apgr(&pair.oracle.summary)),
        ),
        (
            &pair.random,
            RGBColor(140, 140, 140),
            format!("random (APGR {})", apgr(&pair.random.summary)),
        ),
        (
            &pair.threshold_rule,
            RGBColor(230, 150, 40),
            format!(
                "head, threshold knob p_weak < t (APGR {})",
                apgr(&pair.threshold_rule.summary)
            ),
        ),
        (
            &pair.router,
            RGBColor(31, 90, 200),
            format!(
                "head, router tolerance knob (APGR {})",
                apgr(&pair.router.summary)
            ),
        ),
    ];
    for (curve, color, name) in series {
        let style =
            ShapeStyle::from(&color).stroke_width(if name.contains("router") { 3 } else { 2 });
        chart
            .draw_series(LineSeries::new(pct(&curve.curve.points), style))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    let op = &pair.operating_point;
    let marker = (op.strong_share * 100.0, op.quality * 100.0);
    chart
        .draw_series(std::iter::once(Circle::new(marker, 6, RED.filled())))
        .map_err(e)?
        .label(format!(
            "stored thresholds: {:.0} % strong calls, {:.1} % quality",
            op.strong_share * 100.0,
            op.quality * 100.0
        ))
        .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
    if let Some(s) = &pair.router.summary {
        for (row, (cpt, tag)) in [(s.cpt50, "CPT(50%)"), (s.cpt80, "CPT(80%)")]
            .into_iter()
            .enumerate()
        {
            if let Some(c) = cpt {
                let x = c * 100.0;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, lo - pad), (x, hi + pad)],
                        ShapeStyle::from(&RGBColor(31, 90, 200).mix(0.35)).stroke_width(1),
                    )))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{tag} {x:.0}%"),
                        (x + 0.8, hi + pad - (hi - lo) * (0.12 + 0.06 * row as f64)),
                        ("sans-serif", 13).into_font().color(&RGBColor(31, 90, 200)),
                    )))
                    .map_err(e)?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    Ok(())
}

fn draw_cost<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &EvalReport,
) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    let pts = |v: &[crate::eval::CostPoint]| -> Vec<(f64, f64)> {
        v.iter().map(|p| (p.cost, p.quality * 100.0)).collect()
    };
    let a = pts(&report.threshold_sweep);
    let b = pts(&report.tolerance_sweep);
    let xs = a.iter().chain(&b).map(|p| p.0);
    let ys: Vec<f64> = a.iter().chain(&b).map(|p| p.1).collect();
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
        (l.min(x), h.max(x))
    });
    let (y0, y1) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(*y), h.max(*y))
        });
    if !x0.is_finite() || !y0.is_finite() {
        return Err("nothing to plot: no prompt is labelled for every candidate".to_owned());
    }
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: quality vs cost", report.label),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((x0 - 0.05)..(x1 + 0.05), (y0 - 1.0)..(y1 + 1.0))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("mean cost per prompt")
        .y_desc("quality (%)")
        .draw()
        .map_err(e)?;
    for (data, color, name) in [
        (a, RGBColor(31, 90, 200), "threshold sweep"),
        (b, RGBColor(230, 150, 40), "tolerance sweep"),
    ] {
        chart
            .draw_series(LineSeries::new(
                data,
                ShapeStyle::from(&color).stroke_width(2),
            ))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(e)?;
    Ok(())
}

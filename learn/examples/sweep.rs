//! Hyper-parameter sweep with grouped cross-validation: every data file (e.g. MMLU subject)
//! is held out once, so the scores measure transfer to unseen topics. Embeddings come from
//! the cache that `train` fills (uncached prompts are embedded first).
//!
//! `cargo run -p switchyard-learn --example sweep -- --folds 5 DATA_FILES...`

use std::path::PathBuf;

use clap::Parser;
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use switchyard_learn::cache::{Cache, embed_examples};
use switchyard_learn::fit::{FitConfig, Split, fit};
use switchyard_learn::train::{label_matrices, pair_summary, stack};
use switchyard_learn::{Dataset, Format, metrics, open_embedder};

#[derive(Parser)]
struct Args {
    /// RouteLLM-format files; one group per file.
    files: Vec<PathBuf>,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Configurations `hidden:weight_decay:dropout`, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0:0.001:0,0:0.01:0,0:0.1:0,16:0.01:0.2,64:0.001:0.2,64:0.01:0.5"
    )]
    configs: Vec<String>,
    #[arg(long, default_value = ".cache/embeddings")]
    cache: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let set = Dataset::load(&args.files, Format::Routellm)?;
    let emb = open_embedder("builtin", 2)?;
    let mut cache = Cache::open(&args.cache, &emb.fingerprint(), emb.dim())?;
    let origin = |e: &switchyard_learn::data::Example| set.origin(e);
    let (rows, _) = embed_examples(&set.examples, emb.as_ref(), &mut cache, &origin)?;
    let x = stack(&rows, emb.dim());
    let (y, mask) = label_matrices(&set);
    let (w, s) = (0usize, 1usize); // RouteLLM column order: weak first, strong second
    let mut files: Vec<usize> = (0..set.files.len()).collect();
    files.shuffle(&mut StdRng::seed_from_u64(1));
    let fold_of: Vec<usize> = {
        let mut f = vec![0; set.files.len()];
        for (i, &file) in files.iter().enumerate() {
            f[file] = i % args.folds;
        }
        f
    };
    for spec in &args.configs {
        let parts: Vec<f32> = spec.split(':').map(|p| p.parse().unwrap_or(0.0)).collect();
        let cfg = FitConfig {
            hidden: parts[0] as usize,
            weight_decay: parts[1],
            dropout: parts[2],
            max_epochs: 100,
            patience: 5,
            ..FitConfig::default()
        };
        let mut oof = Array2::<f32>::zeros(y.dim());
        for fold in 0..args.folds {
            let test: Vec<usize> = (0..x.nrows())
                .filter(|&i| fold_of[set.examples[i].file] == fold)
                .collect();
            let mut rest: Vec<usize> = (0..x.nrows())
                .filter(|&i| fold_of[set.examples[i].file] != fold)
                .collect();
            rest.shuffle(&mut StdRng::seed_from_u64(fold as u64));
            let (val, train) = rest.split_at(rest.len() / 10);
            let pick = |idx: &[usize]| {
                (
                    x.select(Axis(0), idx),
                    y.select(Axis(0), idx),
                    mask.select(Axis(0), idx),
                )
            };
            let (xt, yt, mt) = pick(train);
            let (xv, yv, mv) = pick(val);
            let f = fit(
                &Split {
                    x: xt.view(),
                    y: yt.view(),
                    mask: mt.view(),
                },
                &Split {
                    x: xv.view(),
                    y: yv.view(),
                    mask: mv.view(),
                },
                &cfg,
            )?;
            let p = f.model.predict(x.select(Axis(0), &test).view());
            for (r, &i) in test.iter().enumerate() {
                oof.row_mut(i).assign(&p.row(r));
            }
        }
        let col = |a: &Array2<f32>, j: usize| -> Vec<f64> {
            a.column(j).iter().map(|v| f64::from(*v)).collect()
        };
        let (pw, ps, yw, ys) = (col(&oof, w), col(&oof, s), col(&y, w), col(&y, s));
        let router = pair_summary(&ps, &pw, &ys, &yw).map(|p| (p.apgr, p.cpt80));
        let gain: Vec<f64> = ps.iter().zip(&pw).map(|(a, b)| a - b).collect();
        let n = pw.len() as f64;
        let gc = metrics::strong_share_curve(&gain, &yw, &ys);
        let g = metrics::summarise(&gc, yw.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n)
            .map(|p| p.apgr);
        let ratio: Vec<f64> = ps.iter().zip(&pw).map(|(a, b)| a / b.max(1e-6)).collect();
        let rc = metrics::strong_share_curve(&ratio, &yw, &ys);
        let r = metrics::summarise(&rc, yw.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n)
            .map(|p| p.apgr);
        let cal = metrics::calibration(&pw, &yw, 10);
        println!(
            "{spec:14} router APGR/CPT80 {router:.3?}  gain APGR {g:.3?}  ratio APGR {r:.3?}  AUC weak {:.3?} strong {:.3?}  ECE weak {:.3}",
            metrics::auc(&pw, &yw),
            metrics::auc(&ps, &ys),
            cal.ece
        );
    }
    Ok(())
}

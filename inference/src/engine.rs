//! The engine: the ONNX Runtime environment, the execution provider decision, readiness, and
//! the loaded models (shared between policies that use the same file the same way).
//!
//! `Engine::start` loads the runtime (failing at once if the library is missing) and runs a
//! tiny probe model on a background thread on the requested device: that decides whether CUDA
//! is really usable (else the engine serves on CPU and says why in [`EngineStatus`]) and warms
//! the provider up. Readiness ([`Engine::subscribe`]) turns true after the probe; models are
//! loaded and warmed up by `IntentModel::build` / `AutoModel::build`, which return only once
//! their models answer.
//!
//! Threads: each model gets `workers` threads (setting 0 → 1), each owning one session with
//! `cpus / 2 / workers` intra-op threads (at least 1; [`EngineOptions::intra_threads`]
//! overrides). One session per model keeps memory low; batching, not more sessions, gives
//! throughput.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ort::environment::Environment;
use ort::value::Tensor;
use switchyard_crds::config::{Device, Inference};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::image::ImageLimits;
use crate::models::ModelFiles;
use crate::pool::{Batching, Gate, Item, Pool, PoolSpec, Runner, SessionFactory};
use crate::runtime;

const PROBE_ONNX: &[u8] = include_bytes!("probe.onnx");

/// What the engine runs on and whether it is ready; published on a `watch` channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineStatus {
    /// Device the configuration asked for.
    pub requested: Device,
    /// Device in use.
    pub device: Device,
    /// Why CUDA is not used although it was requested (the router exports it as a metric and
    /// in `/readyz`; the operator as a `Degraded` condition).
    pub cuda_unavailable: Option<String>,
    /// True once the runtime answered the probe on `device`.
    pub ready: bool,
    /// Set when the runtime failed the probe (the engine cannot serve).
    pub error: Option<String>,
}

/// Engine options beyond the router configuration.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// ONNX Runtime library; default `ORT_DYLIB_PATH`.
    pub ort_dylib: Option<PathBuf>,
    /// Intra-op threads per session; default: available CPUs / 2 / workers, at least 1.
    pub intra_threads: Option<usize>,
    /// Image limits; default: the configuration defaults (see [`Engine::set_image_limits`]).
    pub image_limits: Option<ImageLimits>,
}

/// The inference engine. Cheap to clone; models keep it alive.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Inference,
    models_dir: PathBuf,
    env: Environment,
    status: watch::Sender<EngineStatus>,
    gate: Arc<Gate>,
    workers: usize,
    intra_threads: usize,
    cache: Mutex<HashMap<(PathBuf, Runner), Weak<Pool>>>,
    image_limits: Mutex<ImageLimits>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("status", &self.status())
            .finish()
    }
}

/// Keeps every worker of the engine paused between batches while it lives (tests and
/// maintenance); requests still queue, up to `queue_depth`.
#[must_use = "workers resume when the hold is dropped"]
pub struct WorkerHold {
    gate: Arc<Gate>,
}

impl Drop for WorkerHold {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl Engine {
    /// Starts the engine with the library from `ORT_DYLIB_PATH`.
    pub fn start(settings: &Inference, models_dir: &Path) -> Result<Engine> {
        Self::start_with(settings, models_dir, EngineOptions::default())
    }

    /// Starts the engine: loads ONNX Runtime (error [`Error::Runtime`] if it cannot) and probes
    /// the device in the background.
    pub fn start_with(
        settings: &Inference,
        models_dir: &Path,
        options: EngineOptions,
    ) -> Result<Engine> {
        let env = runtime::environment(options.ort_dylib.as_deref())?;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = (settings.workers as usize).max(1);
        // Half the CPUs per model: two models (CLIP's towers, or a text and a vision request)
        // run at once, and oversubscribed intra-op pools collapse on shared or throttled CPUs
        // (measured on 2 shared cores: 1 thread 51 ms, 2 threads 104 ms for the vision tower).
        let intra_threads = options
            .intra_threads
            .unwrap_or_else(|| (cpus / 2 / workers).max(1));
        let (status, _) = watch::channel(EngineStatus {
            requested: settings.device,
            device: settings.device,
            cuda_unavailable: None,
            ready: false,
            error: None,
        });
        let inner = Arc::new(Inner {
            settings: settings.clone(),
            models_dir: models_dir.to_path_buf(),
            env,
            status,
            gate: Arc::new(Gate::default()),
            workers,
            intra_threads,
            cache: Mutex::new(HashMap::new()),
            image_limits: Mutex::new(options.image_limits.unwrap_or_default()),
        });
        let probe = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("switchyard-probe".to_owned())
            .spawn(move || probe_device(&probe))
            .map_err(|e| Error::Runtime {
                path: PathBuf::new(),
                message: format!("cannot start the probe thread: {e}"),
            })?;
        Ok(Engine { inner })
    }

    /// A snapshot of the status.
    pub fn status(&self) -> EngineStatus {
        self.inner.status.borrow().clone()
    }

    /// Status updates (readiness, CUDA fallback).
    pub fn subscribe(&self) -> watch::Receiver<EngineStatus> {
        self.inner.status.subscribe()
    }

    /// Waits until the probe has run; fails if the runtime cannot serve.
    pub async fn ready(&self) -> Result<()> {
        let mut rx = self.subscribe();
        let status = rx
            .wait_for(|s| s.ready || s.error.is_some())
            .await
            .map_err(|_| Error::Shutdown)?
            .clone();
        match status.error {
            Some(message) => Err(Error::Runtime {
                path: PathBuf::new(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Limits applied to images from now on (the router calls this on config reload).
    pub fn set_image_limits(&self, limits: ImageLimits) {
        *self
            .inner
            .image_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = limits;
    }

    /// Limits applied to images.
    pub fn image_limits(&self) -> ImageLimits {
        *self
            .inner
            .image_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Directory of the built-in models.
    pub fn models_dir(&self) -> &Path {
        &self.inner.models_dir
    }

    /// The settings the engine was started with.
    pub fn settings(&self) -> &Inference {
        &self.inner.settings
    }

    /// Number of models currently loaded.
    pub fn loaded_models(&self) -> usize {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.values().filter(|w| w.strong_count() > 0).count()
    }

    /// Pauses all workers between batches until the returned guard is dropped.
    pub fn hold_workers(&self) -> WorkerHold {
        self.inner.gate.hold();
        WorkerHold {
            gate: Arc::clone(&self.inner.gate),
        }
    }

    /// Loads (or reuses) a model and warms it up.
    pub(crate) async fn load(
        &self,
        files: &ModelFiles,
        runner: Runner,
        warmup: Vec<Item>,
    ) -> Result<Arc<Pool>> {
        self.ready().await?;
        let key = (files.onnx.clone(), runner.clone());
        if let Some(pool) = self.cached(&key) {
            return Ok(pool);
        }
        let inner = &self.inner;
        let device = inner.status.borrow().device;
        let env = inner.env.clone();
        let onnx = files.onnx.clone();
        let describe = files.describe.clone();
        let threads = inner.intra_threads;
        let factory: SessionFactory =
            Arc::new(move || runtime::build_session(&env, &onnx, device, threads, &describe));
        let weak = Arc::downgrade(inner);
        let on_fallback = Arc::new(move |reason: String| {
            if let Some(inner) = weak.upgrade() {
                inner.status.send_modify(|s| {
                    s.cuda_unavailable.get_or_insert(reason);
                });
            }
        });
        let s = &inner.settings;
        let batching = Batching {
            max_batch: (s.max_batch as usize).max(1),
            window: Duration::from_micros(s.batch_window_us),
            queue_depth: (s.queue_depth as usize).max(1),
        };
        let pool = Arc::new(
            Pool::start(PoolSpec {
                describe: files.describe.clone(),
                runner,
                batching,
                workers: inner.workers,
                gate: Arc::clone(&inner.gate),
                factory,
                warmup,
                on_fallback,
            })
            .await?,
        );
        let mut cache = inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, w| w.strong_count() > 0);
        // A concurrent load of the same model may have won; keep one.
        if let Some(existing) = cache.get(&key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        cache.insert(key, Arc::downgrade(&pool));
        Ok(pool)
    }

    fn cached(&self, key: &(PathBuf, Runner)) -> Option<Arc<Pool>> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).and_then(Weak::upgrade)
    }
}

/// Runs the probe model on the requested device and publishes the outcome.
fn probe_device(inner: &Inner) {
    let requested = inner.settings.device;
    let mut fallback = None;
    let mut device = requested;
    if requested == Device::Cuda {
        match runtime::cuda_unavailable_reason() {
            Some(reason) => fallback = Some(reason),
            None => {
                if let Err(e) = run_probe(&inner.env, true) {
                    fallback = Some(format!("CUDA probe failed: {e}"));
                }
            }
        }
        if let Some(reason) = &fallback {
            tracing::warn!(%reason, "CUDA requested but unavailable; serving on CPU");
            device = Device::Cpu;
        }
    }
    let error = if device == Device::Cpu {
        run_probe(&inner.env, false).err()
    } else {
        None
    };
    if let Some(e) = &error {
        tracing::error!(error = %e, "ONNX Runtime failed the start-up probe");
    }
    inner.status.send_modify(|s| {
        s.device = device;
        s.cuda_unavailable = fallback;
        s.ready = error.is_none();
        s.error = error;
    });
}

fn run_probe(env: &Environment, cuda: bool) -> std::result::Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let mut builder = ort::session::Session::builder(env).map_err(|e| text(&e))?;
    if cuda {
        builder = builder
            .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| text(&e))?;
    }
    let mut session = builder
        .with_intra_threads(1)
        .map_err(|e| text(&e))?
        .commit_from_memory(PROBE_ONNX)
        .map_err(|e| text(&e))?;
    let x = Tensor::from_array(([1usize, 4], vec![1f32, 2.0, 3.0, 4.0])).map_err(|e| text(&e))?;
    let outputs = session.run(ort::inputs![x]).map_err(|e| text(&e))?;
    let (_, y) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| text(&e))?;
    if y != [2.0, 4.0, 6.0, 8.0] {
        return Err(format!("probe computed {y:?}, expected [2, 4, 6, 8]"));
    }
    Ok(())
}

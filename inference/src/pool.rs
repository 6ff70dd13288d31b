//! One loaded model: worker threads that own its ONNX Runtime sessions, the queue feeding
//! them, and dynamic batching.
//!
//! Admission is a counter, not the channel: a request is refused with
//! [`Error::Overloaded`] when `queue_depth` requests are already waiting for this model, so a
//! burst never waits without bound. A worker takes the first waiting request, drains what else
//! is waiting, and — when traffic is not idle (more was waiting, or its previous batch had more
//! than one request) — keeps collecting until `batch_window` has passed or `max_batch` is
//! reached. Idle traffic is therefore not delayed by the window, and busy traffic is batched.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ort::session::Session;
use tokio::sync::oneshot;

pub(crate) use crate::batch::{Item, Runner};
use crate::batch::{Layout, inspect, prepare, run_batch};
use crate::error::{Error, Result};

pub(crate) struct Job {
    item: Item,
    reply: oneshot::Sender<Result<Vec<f32>>>,
}

/// Pauses every worker of an engine between batches (see `Engine::hold_workers`).
#[derive(Default)]
pub(crate) struct Gate {
    held: Mutex<usize>,
    cv: Condvar,
}

impl Gate {
    pub fn hold(&self) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    pub fn release(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        *held = held.saturating_sub(1);
        self.cv.notify_all();
    }

    fn wait_open(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while *held > 0 {
            held = self.cv.wait(held).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Batching settings of a pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batching {
    pub max_batch: usize,
    pub window: Duration,
    pub queue_depth: usize,
}

/// Shared between the pool handle and its workers.
struct Shared {
    describe: String,
    runner: Runner,
    layout: Mutex<Option<Layout>>,
    batching: Batching,
    waiting: AtomicUsize,
    /// Moving average of the time per item in nanoseconds, for `Retry-After`.
    ns_per_item: AtomicU64,
    workers: usize,
    gate: Arc<Gate>,
}

/// A loaded model. Dropping the last handle stops its workers once the queue is empty.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    tx: Mutex<Sender<Job>>,
    /// Output width, when static.
    pub out_dim: Option<usize>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("model", &self.shared.describe)
            .finish()
    }
}

/// Everything needed to start a pool.
pub(crate) struct PoolSpec {
    /// Model description for messages.
    pub describe: String,
    pub runner: Runner,
    pub batching: Batching,
    /// Worker threads (each with its own session).
    pub workers: usize,
    pub gate: Arc<Gate>,
    pub factory: SessionFactory,
    /// Rows run once alone and once as a batch before the pool is ready.
    pub warmup: Vec<Item>,
    /// Called with the reason when a session falls back from CUDA to CPU.
    pub on_fallback: Arc<dyn Fn(String) + Send + Sync>,
}

/// What a worker needs to create its session.
pub(crate) type SessionFactory =
    Arc<dyn Fn() -> Result<crate::runtime::BuiltSession> + Send + Sync>;

impl Pool {
    /// Starts the workers of `spec`, each creating its own session and warming it up;
    /// returns once every worker is ready (or the first error).
    pub async fn start(spec: PoolSpec) -> Result<Self> {
        let PoolSpec {
            describe,
            runner,
            batching,
            workers,
            gate,
            factory,
            warmup,
            on_fallback,
        } = spec;
        let shared = Arc::new(Shared {
            describe,
            runner,
            layout: Mutex::new(None),
            batching,
            waiting: AtomicUsize::new(0),
            ns_per_item: AtomicU64::new(2_000_000),
            workers: workers.max(1),
            gate,
        });
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut ready = Vec::new();
        for i in 0..shared.workers {
            let (ready_tx, ready_rx) = oneshot::channel::<Result<Layout>>();
            ready.push(ready_rx);
            let describe = shared.describe.clone();
            let shared = Arc::clone(&shared);
            let rx = Arc::clone(&rx);
            let factory = Arc::clone(&factory);
            let warmup = warmup.clone();
            let on_fallback = Arc::clone(&on_fallback);
            let spawned = std::thread::Builder::new()
                .name(format!("switchyard-infer-{i}"))
                .spawn(move || {
                    let started = factory().and_then(|built| {
                        if let Some(reason) = built.fallback {
                            on_fallback(reason);
                        }
                        let mut session = built.session;
                        let layout = inspect(&session, &shared.runner, &shared.describe)?;
                        // Warm up with one row, then with all rows as one padded batch.
                        for rows in [&warmup[..warmup.len().min(1)], &warmup[..]] {
                            if rows.is_empty() {
                                continue;
                            }
                            let prepared: Vec<Item> = rows
                                .iter()
                                .map(|r| prepare(&shared.runner, r.clone()))
                                .collect::<Result<_>>()?;
                            run_batch(&mut session, &shared.runner, &layout, &prepared).map_err(
                                |e| {
                                    Error::invalid(&shared.describe, format!("warm-up failed: {e}"))
                                },
                            )?;
                        }
                        Ok((session, layout))
                    });
                    match started {
                        Ok((session, layout)) => {
                            let _ = ready_tx.send(Ok(layout.clone()));
                            worker_loop(session, &shared, &layout, &rx);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            if let Err(e) = spawned {
                return Err(Error::invalid(
                    &describe,
                    format!("cannot start a worker thread: {e}"),
                ));
            }
        }
        let mut layout = None;
        for r in ready {
            let l = r.await.map_err(|_| Error::Shutdown)??;
            layout.get_or_insert(l);
        }
        let out_dim = layout.as_ref().and_then(|l| l.out_dim);
        *shared.layout.lock().unwrap_or_else(|p| p.into_inner()) = layout;
        Ok(Self {
            shared,
            tx: Mutex::new(tx),
            out_dim,
        })
    }

    /// A custom metadata value of the model.
    pub fn metadata(&self, key: &str) -> Option<String> {
        let layout = self.shared.layout.lock().unwrap_or_else(|p| p.into_inner());
        layout.as_ref().and_then(|l| l.metadata.get(key).cloned())
    }

    /// Queues one item and waits for its output row.
    pub async fn infer(&self, item: Item) -> Result<Vec<f32>> {
        let rx = self.submit(item)?;
        rx.await.map_err(|_| Error::Shutdown)?
    }

    /// Queues one item; refused with [`Error::Overloaded`] when the queue is full.
    pub fn submit(&self, item: Item) -> Result<oneshot::Receiver<Result<Vec<f32>>>> {
        let s = &self.shared;
        let before = s.waiting.fetch_add(1, Ordering::AcqRel);
        if before >= s.batching.queue_depth {
            s.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Overloaded {
                retry_after: self.retry_after(before),
            });
        }
        let (reply, rx) = oneshot::channel();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Job { item, reply });
        if sent.is_err() {
            s.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Shutdown);
        }
        Ok(rx)
    }

    /// Time to drain `waiting` requests at the measured speed, within 10 ms ..= 30 s.
    fn retry_after(&self, waiting: usize) -> Duration {
        let s = &self.shared;
        let per_item = s.ns_per_item.load(Ordering::Relaxed);
        let ns = per_item.saturating_mul(waiting as u64) / s.workers as u64;
        Duration::from_nanos(ns).clamp(Duration::from_millis(10), Duration::from_secs(30))
    }
}

fn worker_loop(mut session: Session, shared: &Shared, layout: &Layout, rx: &Mutex<Receiver<Job>>) {
    let mut last_batch = 1usize;
    loop {
        let Some(batch) = collect(shared, rx, last_batch) else {
            return;
        };
        shared.gate.wait_open();
        shared.waiting.fetch_sub(batch.len(), Ordering::AcqRel);
        last_batch = batch.len();
        let started = Instant::now();
        let mut replies = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        for job in batch {
            match prepare(&shared.runner, job.item) {
                Ok(row) => {
                    rows.push(row);
                    replies.push(job.reply);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        match run_batch(&mut session, &shared.runner, layout, &rows) {
            Ok(outputs) => {
                for (reply, out) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(message) => {
                tracing::error!(model = %shared.describe, %message, "inference failed");
                for reply in replies {
                    let _ = reply.send(Err(Error::Inference {
                        model: shared.describe.clone(),
                        message: message.clone(),
                    }));
                }
            }
        }
        let per_item = started.elapsed().as_nanos() as u64 / rows.len() as u64;
        let old = shared.ns_per_item.load(Ordering::Relaxed);
        shared
            .ns_per_item
            .store((old * 7 + per_item) / 8, Ordering::Relaxed);
    }
}

/// Takes the next batch; `None` when the pool was dropped and the queue is empty.
fn collect(shared: &Shared, rx: &Mutex<Receiver<Job>>, last_batch: usize) -> Option<Vec<Job>> {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let first = rx.recv().ok()?;
    let max = shared.batching.max_batch.max(1);
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    let busy = batch.len() > 1 || last_batch > 1;
    if busy && !shared.batching.window.is_zero() {
        let deadline = Instant::now() + shared.batching.window;
        while batch.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(job) => batch.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    Some(batch)
}

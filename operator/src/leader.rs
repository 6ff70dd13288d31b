//! Leader election on a `coordination.k8s.io/v1` Lease, so that several operator replicas
//! can run with one active. The same rules as client-go's: a holder renews every
//! `retry` period; a lease is free once its record has not changed for `duration` as seen by
//! the local clock (observed time, so clock skew between nodes does not matter); every write
//! is an update conditional on the `resourceVersion` read, so two candidates cannot both
//! win. A leader that cannot renew within `renew_deadline` has lost the lease: the caller
//! stops its controllers and exits, and the restarted process stands by again.
//!
//! `kube-lease-manager` 0.13 builds against kube 5, but it renews with strategic-merge and
//! apply patches rather than resourceVersion-conditional updates; this small loop needs only
//! get/create/update, which every API server (and the e2e fake) serves.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::time::Instant;

use crate::error::{is_conflict, is_not_found};

/// Lease timings and identity.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// This candidate's identity (pod name).
    pub identity: String,
    /// How long a lease stays valid after its last renewal.
    pub duration: Duration,
    /// How long a leader keeps trying to renew before giving up.
    pub renew_deadline: Duration,
    /// Time between attempts.
    pub retry: Duration,
}

impl LeaseConfig {
    /// The defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(name: &str, identity: &str) -> Self {
        Self {
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// Outcome of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the lease (acquired or renewed).
    Leading,
    /// Someone else holds a valid lease.
    Following(String),
    /// Our write lost a race (409); try again.
    Contended,
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another candidate holds the lease now.
    #[error("lease taken over by {0:?}")]
    TakenOver(String),
    /// Renewals failed for longer than the renew deadline.
    #[error("could not renew the lease within {0:?}")]
    RenewDeadline(Duration),
}

/// The fields that identify one renewal; a change means the holder is alive.
type Record = (Option<String>, Option<MicroTime>, Option<i32>);

fn record(spec: &LeaseSpec) -> Record {
    (
        spec.holder_identity.clone(),
        spec.renew_time.clone(),
        spec.lease_duration_seconds,
    )
}

/// A candidate for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<(Record, Instant)>,
}

fn micro_now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn duration_secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

impl LeaderElector {
    /// A candidate for the Lease `config.name` in the namespace of `api`.
    pub fn new(api: Api<Lease>, config: LeaseConfig) -> Self {
        Self {
            api,
            config,
            observed: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// One acquire-or-renew attempt at time `now` (monotonic).
    pub async fn try_acquire_or_renew(&mut self, now: Instant) -> Result<Attempt, kube::Error> {
        let me = self.config.identity.clone();
        let current = match self.api.get(&self.config.name).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(me.clone()),
                        lease_duration_seconds: Some(duration_secs(self.config.duration)),
                        acquire_time: Some(micro_now()),
                        renew_time: Some(micro_now()),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(created) => {
                        let spec = created.spec.unwrap_or_default();
                        self.observed = Some((record(&spec), now));
                        Ok(Attempt::Leading)
                    }
                    Err(e) if is_conflict(&e) => Ok(Attempt::Contended),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let spec = current.spec.clone().unwrap_or_default();
        let rec = record(&spec);
        let observed_at = match &self.observed {
            Some((r, at)) if *r == rec => *at,
            _ => {
                self.observed = Some((rec.clone(), now));
                now
            }
        };
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let valid_for = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.duration);
        if !holder.is_empty() && holder != me && now < observed_at + valid_for {
            return Ok(Attempt::Following(holder));
        }
        let ours = holder == me;
        let next = Lease {
            metadata: current.metadata.clone(),
            spec: Some(LeaseSpec {
                holder_identity: Some(me),
                lease_duration_seconds: Some(duration_secs(self.config.duration)),
                acquire_time: if ours {
                    spec.acquire_time.clone()
                } else {
                    Some(micro_now())
                },
                renew_time: Some(micro_now()),
                lease_transitions: Some(if ours {
                    spec.lease_transitions.unwrap_or(0)
                } else {
                    spec.lease_transitions.unwrap_or(0).saturating_add(1)
                }),
                ..spec
            }),
        };
        // `replace` sends metadata.resourceVersion: the update only lands on the version read.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(updated) => {
                let spec = updated.spec.unwrap_or_default();
                self.observed = Some((record(&spec), now));
                Ok(Attempt::Leading)
            }
            Err(e) if is_conflict(&e) => Ok(Attempt::Contended),
            Err(e) => Err(e),
        }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew(Instant::now()).await {
                Ok(Attempt::Leading) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired the leader lease");
                    return;
                }
                Ok(Attempt::Following(holder)) => {
                    tracing::debug!(%holder, "standing by: lease held by another replica");
                }
                Ok(Attempt::Contended) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: cannot read or write the lease")
                }
            }
            tokio::time::sleep(self.config.retry).await;
        }
    }

    /// Renews the lease every retry period for as long as that works; returns when
    /// leadership is lost.
    pub async fn hold(&mut self) -> LeaseError {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry).await;
            let now = Instant::now();
            match self.try_acquire_or_renew(now).await {
                Ok(Attempt::Leading) => last_renew = now,
                Ok(Attempt::Following(holder)) => return LeaseError::TakenOver(holder),
                Ok(Attempt::Contended) => {}
                Err(e) => tracing::warn!(error = %e, "leader election: renewal failed"),
            }
            if Instant::now().duration_since(last_renew) > self.config.renew_deadline {
                return LeaseError::RenewDeadline(self.config.renew_deadline);
            }
        }
    }

    /// Gives the lease up (on shutdown) so that a standby takes over at once.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let current = self.api.get(&self.config.name).await?;
        let mut spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(micro_now());
        let next = Lease {
            metadata: current.metadata,
            spec: Some(spec),
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::fixtures::{Seen, mock_client, next};
    use serde_json::json;

    const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";

    fn elector(client: kube::Client) -> LeaderElector {
        LeaderElector::new(
            Api::namespaced(client, "ops"),
            LeaseConfig::new("switchyard-operator", "me"),
        )
    }

    fn lease(holder: &str, rv: &str, renew: &str, transitions: i32) -> serde_json::Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "switchyard-operator", "namespace": "ops", "resourceVersion": rv},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "renewTime": renew, "acquireTime": renew, "leaseTransitions": transitions}
        })
    }

    fn not_found(s: Seen) {
        s.fail(404, "NotFound");
    }

    #[tokio::test]
    async fn creates_the_lease_when_there_is_none() {
        let (client, mut h) = mock_client();
        let mut e = elector(client);
        let server = tokio::spawn(async move {
            let get = next(&mut h).await;
            assert_eq!(get.method, "GET");
            assert_eq!(get.uri, format!("{LEASES}/switchyard-operator"));
            not_found(get);
            let post = next(&mut h).await;
            assert_eq!(post.method, "POST");
            assert_eq!(post.uri, format!("{LEASES}?"));
            assert_eq!(post.body["spec"]["holderIdentity"], "me");
            assert_eq!(post.body["spec"]["leaseDurationSeconds"], 15);
            post.echo(json!({"metadata": {"resourceVersion": "1"}}));
        });
        assert_eq!(
            e.try_acquire_or_renew(Instant::now()).await.unwrap(),
            Attempt::Leading
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn follows_a_live_holder_then_takes_over_an_expired_one() {
        let (client, mut h) = mock_client();
        let mut e = elector(client);
        let t0 = Instant::now();
        let other = lease("other", "7", "2026-01-01T00:00:00.000000Z", 2);
        let o = other.clone();
        let server = tokio::spawn(async move {
            // First look: the record is new to us, so it counts as fresh.
            next(&mut h).await.respond(200, &o);
            // 16 s later the same record: expired; we update on resourceVersion 7.
            next(&mut h).await.respond(200, &o);
            let put = next(&mut h).await;
            assert_eq!(put.method, "PUT");
            assert_eq!(put.uri, format!("{LEASES}/switchyard-operator?"));
            assert_eq!(put.body["metadata"]["resourceVersion"], "7");
            assert_eq!(put.body["spec"]["holderIdentity"], "me");
            assert_eq!(put.body["spec"]["leaseTransitions"], 3);
            put.echo(json!({"metadata": {"resourceVersion": "8"}}));
        });
        assert_eq!(
            e.try_acquire_or_renew(t0).await.unwrap(),
            Attempt::Following("other".to_owned())
        );
        assert_eq!(
            e.try_acquire_or_renew(t0 + Duration::from_secs(16))
                .await
                .unwrap(),
            Attempt::Leading
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_renewing_holder_is_never_taken_over() {
        let (client, mut h) = mock_client();
        let mut e = elector(client);
        let t0 = Instant::now();
        let server = tokio::spawn(async move {
            next(&mut h)
                .await
                .respond(200, &lease("other", "7", "2026-01-01T00:00:00.000000Z", 0));
            // The holder renewed in between: a new record, observed now, still valid.
            next(&mut h)
                .await
                .respond(200, &lease("other", "9", "2026-01-01T00:00:10.000000Z", 0));
        });
        e.try_acquire_or_renew(t0).await.unwrap();
        assert_eq!(
            e.try_acquire_or_renew(t0 + Duration::from_secs(16))
                .await
                .unwrap(),
            Attempt::Following("other".to_owned())
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_lost_race_is_contended_not_an_error() {
        let (client, mut h) = mock_client();
        let mut e = elector(client);
        let server = tokio::spawn(async move {
            next(&mut h)
                .await
                .respond(200, &lease("", "3", "2026-01-01T00:00:00.000000Z", 0));
            next(&mut h).await.fail(409, "Conflict");
        });
        assert_eq!(
            e.try_acquire_or_renew(Instant::now()).await.unwrap(),
            Attempt::Contended
        );
        server.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn leadership_ends_when_renewals_fail_past_the_deadline() {
        let (client, mut h) = mock_client();
        let mut e = elector(client);
        let server = tokio::spawn(async move {
            let mut calls = 0;
            while let Ok(Some((_req, send))) =
                tokio::time::timeout(Duration::from_secs(60), h.next_request()).await
            {
                calls += 1;
                send.send_response(
                    http::Response::builder()
                        .status(500)
                        .body(kube::client::Body::from(
                            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"reason":"InternalError","message":"down"}"#.to_vec(),
                        ))
                        .unwrap(),
                );
            }
            calls
        });
        let lost = e.hold().await;
        assert!(matches!(lost, LeaseError::RenewDeadline(_)), "{lost}");
        drop(e);
        // 2 s retry, 10 s deadline: five or six attempts before giving up.
        let calls = server.await.unwrap();
        assert!((5..=6).contains(&calls), "{calls} renewal attempts");
    }

    #[tokio::test]
    async fn release_clears_the_holder() {
        let (client, mut h) = mock_client();
        let mut e = elector(client);
        let server = tokio::spawn(async move {
            next(&mut h)
                .await
                .respond(200, &lease("me", "5", "2026-01-01T00:00:00.000000Z", 1));
            let put = next(&mut h).await;
            assert_eq!(put.method, "PUT");
            assert!(
                put.body["spec"].get("holderIdentity").is_none(),
                "{}",
                put.body
            );
            assert_eq!(put.body["spec"]["leaseDurationSeconds"], 1);
            put.echo(json!({}));
        });
        e.release().await.unwrap();
        server.await.unwrap();
    }
}

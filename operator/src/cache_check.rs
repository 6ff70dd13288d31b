//! Telling "missing" from "not in the cache yet". The policy controller reads ModelEndpoints
//! and Secrets from caches fed by their own watches, and nothing orders those watches with
//! the policy's: a policy applied together with its endpoints (`kubectl apply -f
//! quickstart.yaml`) can be reconciled before the endpoints' watch events arrive. Reporting
//! them missing then writes a transient `Degraded` status, a router config without those
//! endpoints, and a Warning Event — into whose events.k8s.io series later, real degradations
//! of the policy are folded for minutes, with the first, wrong note.
//!
//! So before a reference is reported missing, the API server is asked (a LIST by name: the
//! operator may list, not get, ModelEndpoints; metadata only, so no Secret values). When the
//! object exists, the reconcile fails with [`Error::CacheNotReady`] and is retried with the
//! usual per-object backoff (first after `backoff_base`, 500 ms); the watch event that
//! brings the cache up to date usually reconciles it first. Only reconciles that find
//! something missing pay for the extra requests.

use std::collections::BTreeSet;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use switchyard_crds::{ModelEndpoint, RoutingPolicy};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::validate::{Inputs, referenced_endpoints};

/// Fails with [`Error::CacheNotReady`] when a reference the caches lack exists in the API.
pub async fn ensure_caught_up(
    ctx: &Context,
    policy: &RoutingPolicy,
    inputs: &Inputs,
) -> Result<()> {
    let ns = policy.namespace().unwrap_or_default();
    let found: BTreeSet<String> = inputs.endpoints.iter().map(ResourceExt::name_any).collect();
    let absent = referenced_endpoints(&policy.spec)
        .into_iter()
        .filter(|n| !found.contains(n) && !inputs.unreadable.contains_key(n));
    for name in absent {
        if exists::<ModelEndpoint>(ctx, &ns, &name).await {
            return Err(Error::CacheNotReady("ModelEndpoint"));
        }
    }
    for name in &inputs.missing_secrets {
        if exists::<Secret>(ctx, &ns, name).await {
            return Err(Error::CacheNotReady("Secret"));
        }
    }
    Ok(())
}

/// Whether `name` exists according to the API server. A failed request counts as "no": the
/// caches' answer stands, as it did before this check.
async fn exists<K>(ctx: &Context, namespace: &str, name: &str) -> bool
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let params = ListParams::default().fields(&format!("metadata.name={name}"));
    match api.list_metadata(&params).await {
        Ok(list) => !list.items.is_empty(),
        Err(e) => {
            tracing::debug!(kind = %K::kind(&()), %name, error = %e, "could not check a missing reference");
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::error::ErrorCategory;
    use crate::fixtures::{Caches, context, endpoint, mock_client, next, policy};
    use crate::policy_controller::reconcile;

    /// The fixture policy references `big` and `small`; the cache has only `big` (and its
    /// Secret), but the API server has `small` too: the reconcile writes nothing and fails
    /// as "not synced", to be retried.
    #[tokio::test]
    async fn a_reference_the_cache_lacks_but_the_api_has_is_retried_not_reported() {
        let (client, mut h) = mock_client();
        let caches = Caches {
            endpoints: vec![endpoint("big", Some("keys"))],
            ..Caches::default()
        };
        let ctx = context(client, caches);
        let server = tokio::spawn(async move {
            let list = next(&mut h).await;
            let uri = list.uri.clone();
            list.respond(
                200,
                &json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                        "metadata": {"resourceVersion": "7"},
                        "items": [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                                   "metadata": {"name": "small", "namespace": "ai"}}]}),
            );
            // Nothing else: no apply, no status write, no Event.
            let more =
                tokio::time::timeout(std::time::Duration::from_millis(300), h.next_request()).await;
            (uri, matches!(more, Ok(Some(_))))
        });
        let err = reconcile(Arc::new(policy("qs", "")), ctx)
            .await
            .unwrap_err();
        let (uri, more) = server.await.unwrap();
        assert!(
            uri.starts_with("/apis/switchyard.dev/v1alpha1/namespaces/ai/modelendpoints?")
                && uri.contains("fieldSelector=metadata.name%3Dsmall"),
            "{uri}"
        );
        assert!(
            !more,
            "the reconcile went on after finding the cache behind"
        );
        assert_eq!(err.category(), ErrorCategory::NotSynced);
        assert!(err.to_string().contains("ModelEndpoint"), "{err}");
    }
}

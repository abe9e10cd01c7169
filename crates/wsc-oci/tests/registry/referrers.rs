//! Referrers on distribution 2.8.2, which has no referrers API: the
//! `sha256-<hex>` fallback tag written by `add_referrer` and read by
//! `referrers`.

use wsc_oci::registry::{Credentials, Digest, OCI_INDEX, Reference, ReferrerUpdate, ReferrersSource};
use wsc_oci::spec::ImageIndex;

use crate::support::process::RegistryProcess;
use crate::support::{Artifact, BUNDLE, SBOM, insecure_client, push_referrer};

#[test]
fn two_referrers_added_through_the_fallback_tag_are_both_kept_and_read_back() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    let artifact = Artifact::new("signed", "s");
    let subject = artifact.push(&registry, "wasm/signed", "v1");
    let size = artifact.manifest.len();

    let none = registry.referrers("wasm/signed", &subject, None).expect("no referrers yet");
    assert_eq!(none.source, ReferrersSource::FallbackTag);
    assert!(none.descriptors.is_empty());

    let bundle = push_referrer(&registry, "wasm/signed", &subject, size, BUNDLE, br#"{"bundle":1}"#);
    let sbom = push_referrer(&registry, "wasm/signed", &subject, size, SBOM, br#"{"spdx":1}"#);
    let first = registry.add_referrer("wasm/signed", &subject, &bundle).expect("the first referrer");
    assert!(matches!(first, ReferrerUpdate::FallbackTag { added: true, attempts: 1, .. }), "{first:?}");
    let second = registry.add_referrer("wasm/signed", &subject, &sbom).expect("the second referrer");
    let ReferrerUpdate::FallbackTag { index, added: true, attempts: 1 } = second else {
        panic!("expected the fallback tag to be updated once: {second:?}")
    };
    // Adding one again changes nothing.
    let again = registry.add_referrer("wasm/signed", &subject, &bundle).expect("again");
    assert_eq!(again, ReferrerUpdate::FallbackTag { index, added: false, attempts: 1 });

    let all = registry.referrers("wasm/signed", &subject, None).expect("both");
    assert_eq!(all.source, ReferrersSource::FallbackTag);
    let mut expected = vec![bundle.clone(), sbom.clone()];
    expected.sort_by_key(|a| a.digest().to_string());
    assert_eq!(all.descriptors, expected, "both, sorted by digest, artifact types kept");
    let bundles = registry.referrers("wasm/signed", &subject, Some(BUNDLE)).expect("filtered");
    assert_eq!(bundles.descriptors, vec![bundle.clone()]);
    let sboms = registry.referrers("wasm/signed", &subject, Some(SBOM)).expect("filtered");
    assert_eq!(sboms.descriptors, vec![sbom.clone()]);
    assert!(
        registry
            .referrers("wasm/signed", &subject, Some("application/other"))
            .expect("filtered")
            .descriptors
            .is_empty()
    );

    // The tag holds an OCI image index, with sorted keys, under the digest reported.
    let tag: Reference = format!("{}/wasm/signed:{}", process.host(), subject.fallback_tag()).parse().expect("valid");
    let stored = registry.manifest_get(&tag, &[OCI_INDEX]).expect("the fallback tag");
    assert_eq!(stored.digest, index);
    assert_eq!(stored.media_type, OCI_INDEX);
    let text = String::from_utf8(stored.bytes.clone()).expect("JSON");
    assert!(text.starts_with(r#"{"manifests":[{"artifactType":"#), "{text}");
    assert!(text.ends_with(r#""mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#), "{text}");
    let parsed: ImageIndex = serde_json::from_slice(&stored.bytes).expect("an image index");
    assert_eq!(parsed.manifests().len(), 2);
    // Each referrer manifest reads back by its digest.
    for d in [&bundle, &sbom] {
        let digest = Digest::of_descriptor(d).expect("sha256");
        let r: Reference = format!("{}/wasm/signed@{digest}", process.host()).parse().expect("valid");
        let m = registry.manifest_get(&r, &[]).expect("the referrer manifest");
        let json: serde_json::Value = serde_json::from_slice(&m.bytes).expect("JSON");
        assert_eq!(json["subject"]["digest"], subject.to_string());
    }
}

#[test]
fn a_referrer_index_over_the_cap_is_refused() {
    let process = RegistryProcess::anonymous();
    let host = process.host();
    let registry = insecure_client(&host, Credentials::Anonymous);
    let artifact = Artifact::new("capped", "c");
    let subject = artifact.push(&registry, "wasm/capped", "v1");
    let size = artifact.manifest.len();
    for i in 0..3 {
        let d = push_referrer(&registry, "wasm/capped", &subject, size, BUNDLE, format!("{{\"n\":{i}}}").as_bytes());
        registry.add_referrer("wasm/capped", &subject, &d).expect("under the cap");
    }
    let mut options = crate::support::options(Credentials::Anonymous, true);
    options.limits.max_referrers = 2;
    let capped = wsc_oci::registry::Registry::new(&host, &crate::support::builder(), options).expect("client");
    let e = capped.referrers("wasm/capped", &subject, None).expect_err("3 entries, cap 2");
    assert!(matches!(e, wsc_oci::OciError::TooManyReferrers { count: 3, limit: 2, .. }), "{e}");
    let d = push_referrer(&registry, "wasm/capped", &subject, size, BUNDLE, b"{\"n\":9}");
    let e = capped.add_referrer("wasm/capped", &subject, &d).expect_err("over the cap");
    assert!(matches!(e, wsc_oci::OciError::TooManyReferrers { .. }), "{e}");
}

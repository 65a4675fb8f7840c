//! The process's one set of trusted TLS roots, for the AWS SDK's clients and reqwest.
//!
//! The roots are Mozilla's list compiled in (`webpki-root-certs`), not the system store.
//! Both the SDK and reqwest used to read the system store at init (the bundle plus every
//! file under /etc/ssl/certs, PEM-decoded): 2 ms each when the files are cached, several
//! times that when not, on every cold start. The trade-off: compiled-in roots change
//! only with a rebuild; Lambda's own store is no fresher (it is fixed per runtime
//! version), and `SSL_CERT_FILE` / `SSL_CERT_DIR` still select the system store (a
//! private CA, say). The cost is about 150 KB of certificates in each binary (100 KB
//! zipped).
//!
//! Nothing is read at init: reqwest's trust anchors are parsed from memory and borrow
//! from it (tens of microseconds), and the SDK's connector, which takes the roots as
//! PEM, is built on the first AWS request, once for all the SDK clients.

use std::sync::OnceLock;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;

/// The trusted roots: Mozilla's CA list as of this build.
fn roots() -> &'static [rustls_pki_types::CertificateDer<'static>] {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
}

/// Whether the system store was asked for by name: `SSL_CERT_FILE` or `SSL_CERT_DIR` (a
/// private CA, say). Both libraries honour these when they load the system store, so
/// with either set they keep doing that, as before these roots were compiled in.
fn system_store_requested() -> bool {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// `builder` trusting exactly [`roots`] (and not the system store, unless
/// [`system_store_requested`]). reqwest takes the rustls configuration as is when it
/// links the same rustls; with another, its `build()` fails (a startup error, and the
/// test below), never a client with other roots.
pub fn with_roots(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
    if system_store_requested() {
        return Ok(builder);
    }
    // Trust anchors borrowed from the compiled-in certificates: parsed, never copied.
    let anchors = roots()
        .iter()
        .map(|der| webpki::anchor_from_trusted_cert(der).map_err(|error| error.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(rustls::RootCertStore { roots: anchors })
        .with_no_client_auth();
    // What reqwest offers itself without its `http2` feature.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(config))
}

/// The HTTPS client for every AWS SDK client of the process: one connection pool, one
/// TLS configuration, built on the first request. The SDK's own client would build a
/// connector when each service client is created, only to load root certificates early.
pub fn aws_http_client() -> SharedHttpClient {
    SharedHttpClient::new(DeferredAwsClient::default())
}

#[derive(Debug, Default)]
struct DeferredAwsClient {
    inner: OnceLock<Result<SharedHttpClient, String>>,
}

impl DeferredAwsClient {
    fn inner(&self) -> &Result<SharedHttpClient, String> {
        self.inner.get_or_init(|| {
            let trust_store = if system_store_requested() {
                TrustStore::default()
            } else {
                TrustStore::empty().with_pem_certificate(pem_bundle())
            };
            let context = TlsContext::builder()
                .with_trust_store(trust_store)
                .build()
                .map_err(|error| error.to_string())?;
            // The SDK's own default client (aws-smithy-runtime's `default_https_client`),
            // with the trust store: rustls on aws-lc, proxies from the environment.
            Ok(
                aws_smithy_http_client::Builder::new().build_with_connector_fn(
                    move |settings, components| {
                        let mut builder = ConnectorBuilder::default()
                            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                            .tls_context(context.clone());
                        builder.set_connector_settings(settings.cloned());
                        if let Some(components) = components {
                            builder.set_sleep_impl(components.sleep_impl());
                        }
                        builder.set_proxy_config(Some(ProxyConfig::from_env()));
                        builder.build()
                    },
                ),
            )
        })
    }
}

impl HttpClient for DeferredAwsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        match self.inner() {
            Ok(client) => client.http_connector(settings, components),
            Err(reason) => SharedHttpConnector::new(Unavailable(reason.clone())),
        }
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        // What the SDK's hyper client reports (it goes into the user agent).
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// A connector whose every request fails: the TLS configuration could not be built.
#[derive(Debug)]
struct Unavailable(String);

impl HttpConnector for Unavailable {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let reason = self.0.clone();
        HttpConnectorFuture::ready(Err(ConnectorError::other(
            format!("the TLS configuration could not be built: {reason}").into(),
            None,
        )))
    }
}

/// [`roots`] as one PEM bundle: the form the SDK's trust store takes.
fn pem_bundle() -> Vec<u8> {
    let mut pem = String::with_capacity(roots().len() * 2048);
    for der in roots() {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        pem.push_str(&base64::engine::general_purpose::STANDARD.encode(der.as_ref()));
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn the_pem_bundle_holds_every_root() {
        let parsed = rustls_pki_types::CertificateDer::pem_slice_iter(&pem_bundle())
            .collect::<Result<Vec<_>, _>>()
            .expect("the bundle is valid PEM");
        assert!(roots().len() > 100, "{} roots", roots().len());
        assert_eq!(parsed, roots());
    }

    #[test]
    fn every_root_parses_as_the_sdk_parses_it() {
        // The SDK's connector panics on a certificate rustls cannot use as a root.
        let mut store = rustls::RootCertStore::empty();
        for der in roots() {
            store.add(der.clone()).expect("a usable root");
        }
        assert_eq!(store.len(), roots().len());
    }

    #[test]
    fn reqwest_accepts_the_roots() {
        let builder = with_roots(reqwest::Client::builder()).expect("DER certificates");
        assert!(builder.build().is_ok());
    }
}

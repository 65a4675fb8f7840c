//! Cost of verifying a signed 4 KB request: paid on every Slack request, inside its 3 s.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secrecy::SecretString;
use slack_calls::slack;

fn verify_4kb(c: &mut Criterion) {
    let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5".to_owned());
    let body: Vec<u8> = (0..4096u32).map(|i| b'a' + (i % 26) as u8).collect();
    let now = 1_700_000_000;
    let headers = slack::SIGNATURE.signed_headers(&secret, now, &body);
    assert_eq!(
        slack::SIGNATURE.verify(&secret, &headers, &body, now),
        Ok(())
    );

    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_slack_4kb", |b| {
        b.iter(|| {
            slack::SIGNATURE.verify(
                black_box(&secret),
                black_box(&headers),
                black_box(&body),
                now,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, verify_4kb);
criterion_main!(benches);

//! SM2 beside P-256 (run with `cargo bench --bench crypto`; figures go to BENCHMARKS.md):
//! signatures and verifications per second of trustd's `Signer`s over the same 256-byte
//! message (the size of a TBS_Sign's digest input is small; a certificate's TBS is ~500 bytes),
//! and SM3 beside SHA-256 over 1 MiB, all in the same run on the same core. P-256 is ring's
//! (assembly); SM2 and SM3 are RustCrypto's pure Rust `sm2` and `sm3`.
//!
//! Timed with the monotonic clock; the median of 7 rounds of at least 300 ms each.

use std::time::{Duration, Instant};

use trustd::keys::{KeyAlgorithm, Signer, SoftwareKey};

fn per_second(mut f: impl FnMut()) -> f64 {
    let mut rounds = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_millis(300) {
            f();
            n += 1;
        }
        rounds.push(n as f64 / started.elapsed().as_secs_f64());
    }
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn main() {
    let message = vec![0x5au8; 256];
    let (p256, _) = SoftwareKey::generate(KeyAlgorithm::EcdsaP256Sha256).unwrap();
    let (sm2, _) = SoftwareKey::generate(KeyAlgorithm::Sm2Sm3).unwrap();
    let p256_sig = p256.sign(&message).unwrap();
    let sm2_sig = sm2.sign(&message).unwrap();
    let p256_public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        p256.public_key().to_vec(),
    );
    let rows = [
        (
            "P-256 sign (ring)",
            per_second(|| {
                std::hint::black_box(p256.sign(&message).ok());
            }),
        ),
        (
            "SM2 sign (sm2)",
            per_second(|| {
                std::hint::black_box(sm2.sign(&message).ok());
            }),
        ),
        (
            "P-256 verify (ring)",
            per_second(|| assert!(p256_public.verify(&message, &p256_sig).is_ok())),
        ),
        (
            "SM2 verify (sm2)",
            per_second(|| {
                assert!(trustd::keys::sm2::verify(
                    sm2.public_key(),
                    &message,
                    &sm2_sig
                ))
            }),
        ),
    ];
    println!("| operation | per second (median of 7) |\n|---|---|");
    for (name, rate) in rows {
        println!("| {name} | {rate:.0} |");
    }
    let mib = vec![0xa5u8; 1 << 20];
    let sha = per_second(|| {
        std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &mib));
    });
    let sm3 = per_second(|| {
        std::hint::black_box(trustd::keys::sm2::sm3(&mib));
    });
    println!("| SHA-256 (ring), MiB/s | {sha:.0} |\n| SM3 (sm3), MiB/s | {sm3:.0} |");
}

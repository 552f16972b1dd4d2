// Secrets and identifiers from OpenSSL's CSPRNG (RAND_bytes), and constant-time comparison.
//
// Every instance token and every generated ID of the control plane comes from here: a seeded
// std::mt19937_64 reveals its whole state (and so every past and future token) from 312
// consecutive outputs, which 52 agent registrations used to hand out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sc::controlplane {

// `hex_chars` lower-case hex digits drawn from RAND_bytes.
Result<std::string> randomHex(size_t hex_chars);
// A uniformly random 64-bit value from RAND_bytes.
Result<uint64_t> randomU64();

// Compares two secrets in time that depends on neither their contents nor their lengths: both are
// hashed with SHA-256 and the digests compared with CRYPTO_memcmp.
bool secretEquals(std::string_view a, std::string_view b);

}  // namespace sc::controlplane

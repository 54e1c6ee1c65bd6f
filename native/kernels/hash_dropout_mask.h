// The keep mask of hash dropout (kernels/hash_dropout.h), one definition for the host reference
// and the CUDA kernel: element i of a tensor is kept iff mix(seed, i) ≥ threshold, where mix is
// MurmurHash3's 32-bit finaliser applied twice (seed's low word, then its high word and i's).
// A counter-based mask needs no state: the backward recomputes it from (seed, i) instead of
// saving it, and any device draws the same mask.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define CN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define CN_HOST_DEVICE inline
#endif

namespace cn::kernels {

CN_HOST_DEVICE uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

CN_HOST_DEVICE bool hashKeep(uint64_t seed, uint64_t index, uint32_t threshold) {
  const uint32_t lo = static_cast<uint32_t>(index), hi = static_cast<uint32_t>(index >> 32);
  const uint32_t h = fmix32(fmix32(lo ^ static_cast<uint32_t>(seed)) ^ (static_cast<uint32_t>(seed >> 32) + hi * 0x9e3779b9u));
  return h >= threshold;
}

// The threshold for drop probability p in [0, 1): P(keep) = 1 − threshold / 2³².
inline uint32_t hashDropThreshold(double p) {
  const double t = p * 4294967296.0;
  return t >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(t + 0.5);
}

}  // namespace cn::kernels

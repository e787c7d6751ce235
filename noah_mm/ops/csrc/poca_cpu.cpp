// Copyright (c) noah_mm contributors. Licensed under the Apache License 2.0.
//
// Fused CPU kernels for POCA (see noah_mm/ops/poca.py for the maths).
//
// For block n, sample b and a panel of 16 classes m, the kernels compute the
// key logits S = W_k F_k and the values V = W_v F_v for all L positions into
// a small buffer that stays in L1/L2, then reduce it at once:
//
//   forward:  out[b, m] += sum_l softmax_l(S)_l * V_l
//   backward: dS[n, b*L + l, m] = A_l * (V_l - P) * g[b, m]
//             dV[n, b*L + l, m] = A_l * g[b, m]
//
// so the (N, M, B*L) attention and value tensors never reach memory in
// forward, and backward writes only the two gradients the weight and input
// GEMMs need. Vectors run over 16 classes (two 8-lane vectors); weights are
// pre-packed by the caller as (N, M_pad/16, C_in, 16).
//
// Plain C++ with GCC/Clang vector extensions and no Python or torch headers:
// it is compiled on first use with -march=native, checked and loaded through
// ctypes (noah_mm/ops/kernel_loader.py, noah_mm/ops/poca.py). The Python side
// passes one NoahPocaArgs struct (declared at the end) and checks its layout
// against noah_poca_abi() before the first call. Threads (OpenMP) split the
// class panels.
//
// NaN and Inf propagate as in the reference (softmax of the key logits, then
// the weighted sum): a NaN logit or value makes its output NaN, and a
// non-finite key bias (which the softmax otherwise cancels) makes its class
// NaN, in forward and backward.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  // unaligned
typedef uint32_t v8w __attribute__((vector_size(32)));

constexpr int kPanel = 16;  // classes per panel
constexpr int kTile = 6;    // positions per micro-kernel tile

inline v8 splat(float s) { return v8{s, s, s, s, s, s, s, s}; }
inline v8 load(const float* p) { return *reinterpret_cast<const v8u*>(p); }
inline void store(float* p, v8 v) { *reinterpret_cast<v8u*>(p) = v; }
// The running max of the key logits may drop a NaN (vmaxps returns b when
// either is NaN); that is harmless: the NaN logit itself still reaches
// exp2_nonpositive, whose NaN makes the softmax sum, and so every output of
// the panel, NaN, as in the reference.
inline v8 vmax(v8 a, v8 b) {
#if defined(__AVX__)
  return __builtin_ia32_maxps256(a, b);  // one vmaxps, not compare + blend
#else
  return a > b ? a : b;
#endif
}

// A 32-bit integer hash (good avalanche, two multiplies): dropout draws its
// keep decisions from hash(entry index, seed), so forward and backward make
// the same mask without storing it, whichever thread handles an entry.
inline v8w hash32(v8w x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

inline v8 round_nearest(v8 t) {
#if defined(__AVX__)
  return __builtin_ia32_roundps256(t, 0x08);  // nearest, no exceptions
#else
  // t <= 0 here: truncation of t - 0.5 rounds to nearest.
  return __builtin_convertvector(__builtin_convertvector(t - splat(0.5f), v8i),
                                 v8);
#endif
}

// max(lo, t) that keeps a NaN t (vmaxps returns its second operand when
// either is NaN; the comparison form does the same).
inline v8 clamp_below(v8 t, v8 lo) {
#if defined(__AVX__)
  return __builtin_ia32_maxps256(lo, t);
#else
  return t < lo ? lo : t;
#endif
}

// 2^t for t <= 0 (softmax arguments in base 2 after the max is subtracted):
// 2^n * p(r) with t = n + r, |r| <= 1/2, p a degree-5 minimax polynomial
// (relative error below 3e-7 in fp32). Below -126.5 it is exactly 0 (the
// exponent field of 2^-127 is 0), so 2^-inf = 0 as in the reference, where
// the softmax weight is zero to fp32 precision anyway; a NaN t gives NaN.
inline v8 exp2_nonpositive(v8 t) {
  t = clamp_below(t, splat(-127.0f));
  const v8 n = round_nearest(t);
  const v8 r = t - n;
  v8 p = splat(1.327647129e-03f);
  p = p * r + splat(9.675540961e-03f);
  p = p * r + splat(5.550713092e-02f);
  p = p * r + splat(2.402212024e-01f);
  p = p * r + splat(6.931469440e-01f);
  p = p * r + splat(1.000000119e+00f);
  const v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
  v8 scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// out[j][0:16] = sum_k w[k][0:16] * f[k][j] for j < NL (f packed K x NL);
// with kMax, also folds the tile into the running maxima mx0, mx1.
template <int NL, bool kMax>
inline void tile(const float* __restrict w, const float* __restrict f, int K,
                 float* __restrict out, v8* mx0, v8* mx1) {
  v8 a0[NL], a1[NL];
  for (int j = 0; j < NL; ++j) a0[j] = a1[j] = splat(0.0f);
  for (int k = 0; k < K; ++k) {
    const v8 w0 = load(w + kPanel * k), w1 = load(w + kPanel * k + 8);
    const float* fk = f + NL * k;
    for (int j = 0; j < NL; ++j) {
      const v8 s = splat(fk[j]);
      a0[j] += w0 * s;
      a1[j] += w1 * s;
    }
  }
  if (kMax) {
    v8 m0 = *mx0, m1 = *mx1;  // local: out may alias a float vector
    for (int j = 0; j < NL; ++j) {
      m0 = vmax(m0, a0[j]);
      m1 = vmax(m1, a1[j]);
    }
    *mx0 = m0;
    *mx1 = m1;
  }
  for (int j = 0; j < NL; ++j) {
    store(out + kPanel * j, a0[j]);
    store(out + kPanel * j + 8, a1[j]);
  }
}

// Packs K rows of length L (row stride L) position-tile-major: for each
// tile of kTile positions (the last one narrower), a K x width block, so
// the micro-kernel reads its operand contiguously and tile l starts at K*l.
void pack_rows(const float* rows, int K, int L, float* dst) {
  for (int l = 0; l < L; l += kTile) {
    const int width = L - l < kTile ? L - l : kTile;
    for (int k = 0; k < K; ++k) {
      const float* src = rows + static_cast<std::ptrdiff_t>(k) * L + l;
      for (int j = 0; j < width; ++j) dst[j] = src[j];
      dst += width;
    }
  }
}

// buf[l][0:16] = sum_k w[k][0:16] * f[k][l] for all l < L, with f packed by
// pack_rows; with kMax, also folds the values into the maxima mx0, mx1.
template <bool kMax>
void project(const float* w, const float* f, int K, int L, float* buf,
             v8* mx0, v8* mx1) {
  int l = 0;
  for (; l + kTile <= L; l += kTile) {
    tile<kTile, kMax>(w, f + static_cast<std::ptrdiff_t>(K) * l, K,
                      buf + kPanel * l, mx0, mx1);
  }
  const float* fl = f + static_cast<std::ptrdiff_t>(K) * l;
  float* out = buf + kPanel * l;
  switch (L - l) {
    case 5: tile<5, kMax>(w, fl, K, out, mx0, mx1); break;
    case 4: tile<4, kMax>(w, fl, K, out, mx0, mx1); break;
    case 3: tile<3, kMax>(w, fl, K, out, mx0, mx1); break;
    case 2: tile<2, kMax>(w, fl, K, out, mx0, mx1); break;
    case 1: tile<1, kMax>(w, fl, K, out, mx0, mx1); break;
    default: break;
  }
}

// Attention form of the value side, for few value channels: with e (L x 16)
// the unnormalised attention, adds sum_j w[j][0:16] * sum_l e[l] * f[j][l]
// for j < NC (f: NC rows of x_b, row stride L) to out0, out1. The same
// multiply-adds as projecting the values, in long loops over l.
template <int NC>
inline void contract(const float* __restrict e, const float* __restrict f,
                     int L, const float* __restrict w, v8* out0, v8* out1) {
  v8 a0[NC], a1[NC];
  for (int j = 0; j < NC; ++j) a0[j] = a1[j] = splat(0.0f);
  for (int l = 0; l < L; ++l) {
    const v8 e0 = load(e + kPanel * l), e1 = load(e + kPanel * l + 8);
    for (int j = 0; j < NC; ++j) {
      const v8 s = splat(f[static_cast<std::ptrdiff_t>(j) * L + l]);
      a0[j] += e0 * s;
      a1[j] += e1 * s;
    }
  }
  v8 o0 = *out0, o1 = *out1;
  for (int j = 0; j < NC; ++j) {
    o0 += load(w + kPanel * j) * a0[j];
    o1 += load(w + kPanel * j + 8) * a1[j];
  }
  *out0 = o0;
  *out1 = o1;
}

void contract_all(const float* e, const float* f, int K, int L,
                  const float* w, v8* out0, v8* out1) {
  int k = 0;
  for (; k + kTile <= K; k += kTile) {
    contract<kTile>(e, f + static_cast<std::ptrdiff_t>(k) * L, L,
                    w + kPanel * k, out0, out1);
  }
  const float* fk = f + static_cast<std::ptrdiff_t>(k) * L;
  const float* wk = w + kPanel * k;
  switch (K - k) {
    case 5: contract<5>(e, fk, L, wk, out0, out1); break;
    case 4: contract<4>(e, fk, L, wk, out0, out1); break;
    case 3: contract<3>(e, fk, L, wk, out0, out1); break;
    case 2: contract<2>(e, fk, L, wk, out0, out1); break;
    case 1: contract<1>(e, fk, L, wk, out0, out1); break;
    default: break;
  }
}

struct Problem {
  const float* x;   // (B, C, L)
  const float* wk;  // (N, P, Ck, 16)
  const float* wv;  // (N, P, Cv, 16)
  int B, C, L, N, M, Ck, Cv;
  int key_base, key_step, value_base, value_step;
  const float* bias;      // (N, M) value bias
  const float* key_bias;  // (N, M): only whether it is finite matters
  uint32_t seed_lo, seed_hi;
  uint32_t threshold;  // dropout: keep an entry if hash >> 8 >= threshold
  float keep_scale;    // 1 / (1 - p); 0 threshold means no dropout

  bool dropout() const { return threshold != 0; }
  // Entry indices ((n*M + m)*B + b)*L of the panel's 8-lane halves.
  void entry_index(int n, int p, int b, v8w* lo, v8w* hi) const {
    const uint32_t stride = static_cast<uint32_t>(B) * L;
    const uint32_t first = ((static_cast<uint32_t>(n) * M + p * kPanel) * B + b) * L;
    for (int i = 0; i < 8; ++i) {
      (*lo)[i] = first + i * stride;
      (*hi)[i] = first + (i + 8) * stride;
    }
  }
  // 0 or 1/(1-p) for the entries `index`.
  v8 keep(v8w index) const {
    const v8w h = hash32(hash32(index ^ seed_lo) ^ seed_hi) >> 8;
    const v8w kept = (v8w)(h >= threshold);  // all ones or zero per lane
    const v8 scale = splat(keep_scale);
    v8w bits;
    std::memcpy(&bits, &scale, sizeof(bits));
    bits &= kept;
    v8 out;
    std::memcpy(&out, &bits, sizeof(out));
    return out;
  }
  // The value bias of block n, panel p (zero past M).
  void bias_panel(int n, int p, v8* b0, v8* b1) const {
    float buf[kPanel] = {0};
    const int m = p * kPanel;
    for (int i = 0; i < kPanel && m + i < M; ++i)
      buf[i] = bias[static_cast<std::ptrdiff_t>(n) * M + m + i];
    *b0 = load(buf);
    *b1 = load(buf + 8);
  }

  // 0 where the key bias of block n, panel p is finite, NaN elsewhere. The
  // softmax cancels a finite key bias; a non-finite one makes the reference's
  // attention NaN, and adding this guard to the max does the same here.
  void key_bias_guard(int n, int p, v8* k0, v8* k1) const {
    float buf[kPanel] = {0};
    const int m = p * kPanel;
    for (int i = 0; i < kPanel && m + i < M; ++i) {
      const float b = key_bias[static_cast<std::ptrdiff_t>(n) * M + m + i];
      buf[i] = b - b;
    }
    *k0 = load(buf);
    *k1 = load(buf + 8);
  }

  int panels() const { return (M + kPanel - 1) / kPanel; }
  int key_channel(int n) const { return key_base + n * key_step; }
  int value_channel(int n) const { return value_base + n * value_step; }
  const float* key_panel(int n, int p) const {
    return wk + (static_cast<std::ptrdiff_t>(n) * panels() + p) * Ck * kPanel;
  }
  const float* value_panel(int n, int p) const {
    return wv + (static_cast<std::ptrdiff_t>(n) * panels() + p) * Cv * kPanel;
  }
  // A sample packed block by block: block n's keys, then its values, each
  // by pack_rows.
  std::ptrdiff_t block_size() const {
    return static_cast<std::ptrdiff_t>(Ck + Cv) * L;
  }
  void pack(int b, float* packed) const {
    const float* xb = x + static_cast<std::ptrdiff_t>(b) * C * L;
    for (int n = 0; n < N; ++n) {
      float* dst = packed + n * block_size();
      pack_rows(xb + static_cast<std::ptrdiff_t>(key_channel(n)) * L, Ck, L,
                dst);
      pack_rows(xb + static_cast<std::ptrdiff_t>(value_channel(n)) * L, Cv, L,
                dst + static_cast<std::ptrdiff_t>(Ck) * L);
    }
  }
  const float* packed_keys(const float* packed, int n) const {
    return packed + n * block_size();
  }
  const float* packed_values(const float* packed, int n) const {
    return packed + n * block_size() + static_cast<std::ptrdiff_t>(Ck) * L;
  }
};

// Fills s (base-2 key logits) and v (values), both L x 16, for panel p of
// block n of one sample (`packed`, see Problem::pack), and returns the
// maxima of s over l.
inline void logits_and_values(const Problem& q, const float* packed, int n,
                              int p, float* s, float* v, v8* mx0, v8* mx1) {
  *mx0 = *mx1 = splat(-__builtin_huge_valf());
  project<true>(q.key_panel(n, p), q.packed_keys(packed, n), q.Ck, q.L, s,
                mx0, mx1);
  project<false>(q.value_panel(n, p), q.packed_values(packed, n), q.Cv, q.L,
                 v, nullptr, nullptr);
  v8 k0, k1;
  q.key_bias_guard(n, p, &k0, &k1);
  *mx0 += k0;
  *mx1 += k1;
}

// Writes lanes [0, count) of a 16-wide row.
inline void store_row(float* dst, v8 lo, v8 hi, int count) {
  if (count == kPanel) {
    store(dst, lo);
    store(dst + 8, hi);
    return;
  }
  float tmp[kPanel];
  store(tmp, lo);
  store(tmp + 8, hi);
  for (int i = 0; i < count; ++i) dst[i] = tmp[i];
}

// With s the base-2 key logits and v the values (L x 16) of one panel:
// e = 2^(s - max), V' = (v + bias) * keep (keep only with dropout, entries
// i0 + l, i1 + l); adds sum_l e to se and sum_l e V' to sv. With kStore,
// writes e back into s and V' into v for backward. (Accumulators are local:
// stores through float* may alias a float vector.)
template <bool kDropout, bool kStore>
inline void softmax_sums(const Problem& q, float* s, float* v, v8 mx0, v8 mx1,
                         v8 b0, v8 b1, v8w i0, v8w i1, v8* se0, v8* se1,
                         v8* sv0, v8* sv1) {
  v8 e_sum0 = *se0, e_sum1 = *se1, ev_sum0 = *sv0, ev_sum1 = *sv1;
  for (int l = 0; l < q.L; ++l) {
    const v8 e0 = exp2_nonpositive(load(s + kPanel * l) - mx0);
    const v8 e1 = exp2_nonpositive(load(s + kPanel * l + 8) - mx1);
    v8 v0 = load(v + kPanel * l) + b0, v1 = load(v + kPanel * l + 8) + b1;
    if (kDropout) {
      v0 *= q.keep(i0 + l);
      v1 *= q.keep(i1 + l);
    }
    if (kStore) {
      store(s + kPanel * l, e0);
      store(s + kPanel * l + 8, e1);
      store(v + kPanel * l, v0);
      store(v + kPanel * l + 8, v1);
    }
    e_sum0 += e0;
    e_sum1 += e1;
    ev_sum0 += e0 * v0;
    ev_sum1 += e1 * v1;
  }
  *se0 = e_sum0;
  *se1 = e_sum1;
  *sv0 = ev_sum0;
  *sv1 = ev_sum1;
}

// Attention form: e = 2^(s - max) of one panel; returns sum_l e in se and
// sum_l e * keep in sk, and writes e * keep to `weights` (which may be s).
template <bool kDropout>
inline void exponentiate(const Problem& q, const float* s, float* weights,
                         v8 mx0, v8 mx1, v8w i0, v8w i1, v8* se0, v8* se1,
                         v8* sk0, v8* sk1) {
  v8 e_sum0 = splat(0.0f), e_sum1 = splat(0.0f);
  v8 k_sum0 = splat(0.0f), k_sum1 = splat(0.0f);
  for (int l = 0; l < q.L; ++l) {
    v8 e0 = exp2_nonpositive(load(s + kPanel * l) - mx0);
    v8 e1 = exp2_nonpositive(load(s + kPanel * l + 8) - mx1);
    e_sum0 += e0;
    e_sum1 += e1;
    if (kDropout) {
      e0 *= q.keep(i0 + l);
      e1 *= q.keep(i1 + l);
      k_sum0 += e0;
      k_sum1 += e1;
    }
    store(weights + kPanel * l, e0);
    store(weights + kPanel * l + 8, e1);
  }
  *se0 = e_sum0;
  *se1 = e_sum1;
  *sk0 = kDropout ? k_sum0 : e_sum0;
  *sk1 = kDropout ? k_sum1 : e_sum1;
}

// Whether each (block, panel) of packed value weights is finite. The
// attention form multiplies the weights by sum_l A_l F_l, the reference by
// F_l before the sum; with an infinite weight the two differ (one infinity
// against a NaN from infinities of both signs), so such panels take the
// projected form, as the reference does.
std::vector<uint8_t> finite_value_panels(const Problem& q) {
  std::vector<uint8_t> finite(static_cast<size_t>(q.N) * q.panels(), 1);
  if (q.Cv >= q.L) return finite;  // the projected form throughout
  for (int n = 0; n < q.N; ++n) {
    for (int p = 0; p < q.panels(); ++p) {
      const float* w = q.value_panel(n, p);
      v8 zero0 = splat(0.0f), zero1 = splat(0.0f);  // w - w: 0 or NaN
      for (int k = 0; k < q.Cv; ++k) {
        const v8 w0 = load(w + kPanel * k), w1 = load(w + kPanel * k + 8);
        zero0 += w0 - w0;
        zero1 += w1 - w1;
      }
      float lanes[kPanel];
      store(lanes, zero0 + zero1);
      float sum = 0.0f;
      for (int i = 0; i < 8; ++i) sum += lanes[i];
      finite[static_cast<size_t>(n) * q.panels() + p] = sum == 0.0f;
    }
  }
  return finite;
}

// out (B, M), accumulated: out[b, m] += sum_n sum_l softmax_l(S) * V' with
// V' = (V + bias) * keep (keep = 1 without dropout), for the class panels
// [p0, p1). `finite` is finite_value_panels(q).
void forward_panels(const Problem& q, const uint8_t* finite, float* out,
                    float* scratch, int p0, int p1) {
  if (p0 >= p1) return;
  const int B = q.B, C = q.C, L = q.L, N = q.N, M = q.M, Ck = q.Ck,
            Cv = q.Cv;
  float* s = scratch;
  float* v = scratch + static_cast<std::ptrdiff_t>(L) * kPanel;
  float* packed = v + static_cast<std::ptrdiff_t>(L) * kPanel;
  const bool dropout = q.dropout();
  // Few value channels (DeiT: 24 per block, 196 positions): contract the
  // attention with the value inputs instead of projecting the values.
  const bool few_values = Cv < L;
  for (int b = 0; b < B; ++b) {
    const float* xb = q.x + static_cast<std::ptrdiff_t>(b) * C * L;
    q.pack(b, packed);
    // Block-major: block n's inputs stay in L1 while its panels stream by.
    for (int n = 0; n < N; ++n) {
      for (int p = p0; p < p1; ++p) {
        v8 mx0, mx1, b0, b1;
        v8w i0, i1;
        q.bias_panel(n, p, &b0, &b1);
        if (dropout) q.entry_index(n, p, b, &i0, &i1);
        v8 se0 = splat(0.0f), se1 = splat(0.0f);  // sum_l e
        v8 sv0 = splat(0.0f), sv1 = splat(0.0f);  // sum_l e * V'
        if (few_values && finite[static_cast<size_t>(n) * q.panels() + p]) {
          mx0 = mx1 = splat(-__builtin_huge_valf());
          project<true>(q.key_panel(n, p), q.packed_keys(packed, n), Ck, L,
                        s, &mx0, &mx1);
          v8 k0, k1;
          q.key_bias_guard(n, p, &k0, &k1);
          mx0 += k0;
          mx1 += k1;
          // The contraction reads e * keep (in v); the bias adds
          // bias * sum_l e * keep.
          float* weights = dropout ? v : s;
          v8 sk0, sk1;
          if (dropout)
            exponentiate<true>(q, s, weights, mx0, mx1, i0, i1, &se0, &se1,
                               &sk0, &sk1);
          else
            exponentiate<false>(q, s, weights, mx0, mx1, i0, i1, &se0, &se1,
                                &sk0, &sk1);
          contract_all(weights,
                       xb + static_cast<std::ptrdiff_t>(q.value_channel(n)) * L,
                       Cv, L, q.value_panel(n, p), &sv0, &sv1);
          sv0 += b0 * sk0;
          sv1 += b1 * sk1;
        } else {
          logits_and_values(q, packed, n, p, s, v, &mx0, &mx1);
          if (dropout)
            softmax_sums<true, false>(q, s, v, mx0, mx1, b0, b1, i0, i1, &se0,
                                      &se1, &sv0, &sv1);
          else
            softmax_sums<false, false>(q, s, v, mx0, mx1, b0, b1, i0, i1,
                                       &se0, &se1, &sv0, &sv1);
        }
        const int m = p * kPanel;
        float* dst = out + static_cast<std::ptrdiff_t>(b) * M + m;
        const int count = M - m < kPanel ? M - m : kPanel;
        float prev[kPanel] = {0};
        for (int i = 0; i < count; ++i) prev[i] = dst[i];
        store_row(dst, load(prev) + sv0 / se0, load(prev + 8) + sv1 / se1,
                  count);
      }
    }
  }
}

// Gradients of the logits and values, transposed: d_logits and d_values are
// (N, B*L, M); d_bias and d_key_bias (N, M), the sums of d_values and
// d_logits over b and l, are accumulated; g (B, M) is the output
// gradient already scaled. With A = softmax_l(S), V' = (V + bias) * keep
// and P = sum_l A V': dS = A (V' - P) g and dV = A keep g. For the class
// panels [p0, p1).
void backward_panels(const Problem& q, const float* g, float* d_logits,
                     float* d_values, float* d_bias, float* d_key_bias,
                     float* scratch, int p0, int p1) {
  if (p0 >= p1) return;
  const int B = q.B, L = q.L, N = q.N, M = q.M;
  float* s = scratch;
  float* v = scratch + static_cast<std::ptrdiff_t>(L) * kPanel;
  float* packed = v + static_cast<std::ptrdiff_t>(L) * kPanel;
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(B) * L;
  const bool dropout = q.dropout();
  for (int b = 0; b < B; ++b) {
    q.pack(b, packed);
    for (int p = p0; p < p1; ++p) {
      const int m = p * kPanel;
      const int count = M - m < kPanel ? M - m : kPanel;
      float gbuf[kPanel] = {0};
      for (int i = 0; i < count; ++i)
        gbuf[i] = g[static_cast<std::ptrdiff_t>(b) * M + m + i];
      const v8 g0 = load(gbuf), g1 = load(gbuf + 8);
      for (int n = 0; n < N; ++n) {
        v8 mx0, mx1, b0, b1;
        v8w i0, i1;
        q.bias_panel(n, p, &b0, &b1);
        if (dropout) q.entry_index(n, p, b, &i0, &i1);
        logits_and_values(q, packed, n, p, s, v, &mx0, &mx1);
        v8 se0 = splat(0.0f), se1 = splat(0.0f);
        v8 sv0 = splat(0.0f), sv1 = splat(0.0f);
        if (dropout)
          softmax_sums<true, true>(q, s, v, mx0, mx1, b0, b1, i0, i1, &se0,
                                   &se1, &sv0, &sv1);
        else
          softmax_sums<false, true>(q, s, v, mx0, mx1, b0, b1, i0, i1, &se0,
                                    &se1, &sv0, &sv1);
        const v8 inv0 = splat(1.0f) / se0, inv1 = splat(1.0f) / se1;
        const v8 p0v = sv0 * inv0, p1v = sv1 * inv1;
        const v8 ga0 = g0 * inv0, ga1 = g1 * inv1;  // g / sum_e
        v8 db0 = splat(0.0f), db1 = splat(0.0f);  // sum_l dV
        v8 dk0 = splat(0.0f), dk1 = splat(0.0f);  // sum_l dS
        const std::ptrdiff_t base = (n * rows + static_cast<std::ptrdiff_t>(b) * L) * M + m;
        for (int l = 0; l < L; ++l) {
          const v8 ag0 = load(s + kPanel * l) * ga0;  // A * g
          const v8 ag1 = load(s + kPanel * l + 8) * ga1;
          const v8 ds0 = ag0 * (load(v + kPanel * l) - p0v);
          const v8 ds1 = ag1 * (load(v + kPanel * l + 8) - p1v);
          v8 dv0 = ag0, dv1 = ag1;
          if (dropout) {
            dv0 *= q.keep(i0 + l);
            dv1 *= q.keep(i1 + l);
          }
          db0 += dv0;
          db1 += dv1;
          dk0 += ds0;
          dk1 += ds1;
          store_row(d_logits + base + static_cast<std::ptrdiff_t>(l) * M, ds0, ds1, count);
          store_row(d_values + base + static_cast<std::ptrdiff_t>(l) * M, dv0, dv1, count);
        }
        float* dst = d_bias + static_cast<std::ptrdiff_t>(n) * M + m;
        float prev[kPanel] = {0};
        for (int i = 0; i < count; ++i) prev[i] = dst[i];
        store_row(dst, load(prev) + db0, load(prev + 8) + db1, count);
        dst = d_key_bias + static_cast<std::ptrdiff_t>(n) * M + m;
        for (int i = 0; i < count; ++i) prev[i] = dst[i];
        store_row(dst, load(prev) + dk0, load(prev + 8) + dk1, count);
      }
    }
  }
}

// Splits the class panels over `threads` OpenMP threads, each with its own
// scratch slice. In a torch process this is torch's own OpenMP runtime
// (libgomp is loaded once), so the kernels share torch's worker threads
// instead of competing with them.
template <typename Body>
void over_panels(int panels, int threads, float* scratch, int64_t stride,
                 Body body) {
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    body(scratch + t * stride, panels * t / T, panels * (t + 1) / T);
  }
#else
  (void)threads;
  (void)stride;
  body(scratch, 0, panels);
#endif
}

}  // namespace

extern "C" {

// Everything one call of noah_poca_forward / noah_poca_backward reads and
// writes. Mirrored field by field by the ctypes.Structure in
// noah_mm/ops/poca.py; noah_poca_abi() reports its size and field offsets so
// the loader refuses a library whose layout differs.
struct NoahPocaArgs {
  const float* x;             // (B, C, L) input map
  const float* key_weight;    // packed (N, P, C_k, 16), scaled by log2(e)
  const float* value_weight;  // packed (N, P, C_v, 16)
  const float* key_bias;      // (N, M): only whether it is finite matters
  const float* value_bias;    // (N, M)
  const float* grad;          // (B, M) output gradient (backward)
  float* out;                 // (B, M) logits, accumulated (forward)
  float* d_logits;            // (N, B*L, M) key-logit gradient (backward)
  float* d_values;            // (N, B*L, M) value gradient (backward)
  float* d_value_bias;        // (N, M), accumulated (backward)
  float* d_key_bias;          // (N, M), accumulated (backward)
  float* scratch;             // threads x scratch_stride floats
  int64_t scratch_stride;     // noah_poca_scratch(N * (C_k + C_v), L)
  int32_t batch, channels, length, blocks, classes;  // B, C, L, N, M
  int32_t key_channels, value_channels;              // C_k, C_v per block
  // Block n reads keys from channel key_base + n * key_step on and values
  // from value_base + n * value_step on.
  int32_t key_base, key_step, value_base, value_step;
  int32_t threads;  // OpenMP threads splitting the class panels
  float dropout_p;  // dropout on the values, in [0, 1)
  uint64_t seed;    // dropout seed
};

// Bumped whenever NoahPocaArgs or an exported signature changes.
constexpr int kAbiVersion = 2;

// Writes sizeof(NoahPocaArgs) and the offset of each of its fields, in
// declaration order, to layout[0:capacity]; returns the ABI version.
int noah_poca_abi(int64_t* layout, int capacity) {
  const int64_t values[] = {
      sizeof(NoahPocaArgs),
      offsetof(NoahPocaArgs, x),
      offsetof(NoahPocaArgs, key_weight),
      offsetof(NoahPocaArgs, value_weight),
      offsetof(NoahPocaArgs, key_bias),
      offsetof(NoahPocaArgs, value_bias),
      offsetof(NoahPocaArgs, grad),
      offsetof(NoahPocaArgs, out),
      offsetof(NoahPocaArgs, d_logits),
      offsetof(NoahPocaArgs, d_values),
      offsetof(NoahPocaArgs, d_value_bias),
      offsetof(NoahPocaArgs, d_key_bias),
      offsetof(NoahPocaArgs, scratch),
      offsetof(NoahPocaArgs, scratch_stride),
      offsetof(NoahPocaArgs, batch),
      offsetof(NoahPocaArgs, channels),
      offsetof(NoahPocaArgs, length),
      offsetof(NoahPocaArgs, blocks),
      offsetof(NoahPocaArgs, classes),
      offsetof(NoahPocaArgs, key_channels),
      offsetof(NoahPocaArgs, value_channels),
      offsetof(NoahPocaArgs, key_base),
      offsetof(NoahPocaArgs, key_step),
      offsetof(NoahPocaArgs, value_base),
      offsetof(NoahPocaArgs, value_step),
      offsetof(NoahPocaArgs, threads),
      offsetof(NoahPocaArgs, dropout_p),
      offsetof(NoahPocaArgs, seed),
  };
  const int count = static_cast<int>(sizeof(values) / sizeof(values[0]));
  for (int i = 0; i < count && i < capacity; ++i) layout[i] = values[i];
  return kAbiVersion;
}

int noah_poca_panel() { return kPanel; }

// Packs weights (N, M, K) into (N, ceil(M/16), K, 16) times `scale`, with
// zero rows past M (the key weights get scale = log2(e): the kernels take
// softmaxes in base 2).
void noah_poca_pack(const float* w, int N, int M, int K, float scale,
                    float* out) {
  const int panels = (M + kPanel - 1) / kPanel;
  for (int n = 0; n < N; ++n) {
    for (int p = 0; p < panels; ++p) {
      float* dst = out + (static_cast<std::ptrdiff_t>(n) * panels + p) * K * kPanel;
      for (int i = 0; i < kPanel; ++i) {
        const int m = p * kPanel + i;
        const float* src = w + (static_cast<std::ptrdiff_t>(n) * M + m) * K;
        for (int k = 0; k < K; ++k)
          dst[kPanel * k + i] = m < M ? src[k] * scale : 0.0f;
      }
    }
  }
}

// Scratch floats one thread needs: two L x 16 buffers and a packed sample
// (`channels` = N * (C_k + C_v) packed channels).
int64_t noah_poca_scratch(int channels, int L) {
  return (2 * static_cast<int64_t>(kPanel) + channels) * L;
}

// Whether the library was built with OpenMP (else it runs on one thread).
int noah_poca_openmp() {
#if defined(_OPENMP)
  return 1;
#else
  return 0;
#endif
}

}  // extern "C"

namespace {
// The kernels' view of a call: dropout as a hash threshold.
Problem make_problem(const NoahPocaArgs& a) {
  Problem q{a.x, a.key_weight, a.value_weight, a.batch, a.channels, a.length,
            a.blocks, a.classes, a.key_channels, a.value_channels,
            a.key_base, a.key_step, a.value_base, a.value_step, a.value_bias,
            a.key_bias, static_cast<uint32_t>(a.seed),
            static_cast<uint32_t>(a.seed >> 32), 0u, 1.0f};
  if (a.dropout_p > 0) {
    // hash >> 8 is uniform on [0, 2^24): keep it when >= p * 2^24.
    q.threshold = static_cast<uint32_t>(a.dropout_p * 16777216.0f + 0.5f);
    if (q.threshold == 0) q.threshold = 1;
    q.keep_scale = 1.0f / (1.0f - a.dropout_p);
  }
  return q;
}
}  // namespace

extern "C" {

// See forward_panels.
void noah_poca_forward(const NoahPocaArgs* a) {
  const Problem q = make_problem(*a);
  const std::vector<uint8_t> finite = finite_value_panels(q);
  over_panels(q.panels(), a->threads, a->scratch, a->scratch_stride,
              [&](float* buf, int p0, int p1) {
                forward_panels(q, finite.data(), a->out, buf, p0, p1);
              });
}

// See backward_panels.
void noah_poca_backward(const NoahPocaArgs* a) {
  const Problem q = make_problem(*a);
  over_panels(q.panels(), a->threads, a->scratch, a->scratch_stride,
              [&](float* buf, int p0, int p1) {
                backward_panels(q, a->grad, a->d_logits, a->d_values,
                                a->d_value_bias, a->d_key_bias, buf, p0, p1);
              });
}

// The dropout keep-scale (0 or 1/(1-p)) of every entry (N, M, B, L), as the
// kernels draw it (for tests and analysis); reads blocks, classes, batch,
// length, dropout_p and seed of `a`, writes `out`.
void noah_poca_dropout_mask(const NoahPocaArgs* a) {
  const Problem q = make_problem(*a);
  const int N = a->blocks, M = a->classes, B = a->batch, L = a->length;
  float* out = a->out;
  const std::ptrdiff_t per_class = static_cast<std::ptrdiff_t>(B) * L;
  for (int n = 0; n < N; ++n) {
    for (int p = 0; p < q.panels(); ++p) {
      for (int b = 0; b < B; ++b) {
        v8w i0, i1;
        q.entry_index(n, p, b, &i0, &i1);
        for (int l = 0; l < L; ++l) {
          float row[kPanel];
          store(row, q.keep(i0 + l));
          store(row + 8, q.keep(i1 + l));
          for (int i = 0; i < kPanel && p * kPanel + i < M; ++i) {
            const std::ptrdiff_t m = p * kPanel + i;
            out[(n * static_cast<std::ptrdiff_t>(M) + m) * per_class +
                b * static_cast<std::ptrdiff_t>(L) + l] = row[i];
          }
        }
      }
    }
  }
}

}  // extern "C"

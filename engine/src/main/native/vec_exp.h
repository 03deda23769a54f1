/* e^x on float vectors for the native ops' softmaxes and activations (AVX-512F and AVX2 + FMA). */
#ifndef LLAVA_VEC_EXP_H_
#define LLAVA_VEC_EXP_H_

#include <immintrin.h>

/*
 * e^x on whole vectors: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by Cephes' degree-6 polynomial
 * for expf (about 1 ulp), times 2^n. x is clamped to [-87.34, 88], where 2^n stays a normal float;
 * NaN stays NaN (maxps and minps return their second operand when either is NaN).
 */
#define VEXP_EXP_LO -87.3365f
#define VEXP_EXP_HI 88.0f
#define VEXP_LOG2E 1.44269504088896341f
#define VEXP_LN2_HI 0.693359375f
#define VEXP_LN2_LO -2.12194440e-4f
#define VEXP_P0 1.9875691500e-4f
#define VEXP_P1 1.3981999507e-3f
#define VEXP_P2 8.3334519073e-3f
#define VEXP_P3 4.1665795894e-2f
#define VEXP_P4 1.6666665459e-1f
#define VEXP_P5 5.0000001201e-1f

__attribute__((target("avx512f"))) static inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(VEXP_EXP_LO), x);
  x = _mm512_min_ps(_mm512_set1_ps(VEXP_EXP_HI), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(VEXP_LOG2E)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VEXP_LN2_HI), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VEXP_LN2_LO), r);
  __m512 p = _mm512_set1_ps(VEXP_P0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P5));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx2,fma"))) static inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(VEXP_EXP_LO), x);
  x = _mm256_min_ps(_mm256_set1_ps(VEXP_EXP_HI), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(VEXP_LOG2E)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VEXP_LN2_HI), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VEXP_LN2_LO), r);
  __m256 p = _mm256_set1_ps(VEXP_P0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P5));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2 = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

#endif /* LLAVA_VEC_EXP_H_ */

/* IEEE half precision, widened without F16C, for the kernels' plain C paths. */
#ifndef LLAVA_HALF_H_
#define LLAVA_HALF_H_

#include <stdint.h>
#include <string.h>

/* IEEE half to float, exactly (subnormals, infinities and NaNs included), without F16C. */
static inline float llava_from_f16(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  uint32_t u;
  float f;
  if (exp == 0x1fu) {
    u = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112u) << 23) | (man << 13);
  } else {
    f = (float)man * 5.9604644775390625e-8f; /* man * 2^-24, exact */
    memcpy(&u, &f, sizeof u);
    u |= sign;
  }
  memcpy(&f, &u, sizeof f);
  return f;
}

#endif /* LLAVA_HALF_H_ */

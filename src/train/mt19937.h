/* mt19937.h: the Mersenne Twister as PyTorch's CPU generator uses it.
 *
 * Only needed to reproduce the official I-JEPA mask collator, which draws its
 * block sizes with torch.rand(1, generator=g) after g.manual_seed(counter).
 * PyTorch seeds MT19937 with the LOW 32 BITS of the 64-bit seed (standard
 * init_genrand: s[0] = seed, s[i] = 1812433253*(s[i-1] ^ s[i-1]>>30) + i), so
 * manual_seed(2^32) equals manual_seed(0). A float torch.rand value consumes
 * one 32-bit output u and is (u & 0xFFFFFF) / 2^24.
 */
#ifndef IJEPA_TRAIN_MT19937_H
#define IJEPA_TRAIN_MT19937_H

#include <stdint.h>

typedef struct {
    uint32_t s[624];
    int i;
} IjMt19937;

/* torch.Generator().manual_seed(seed) */
void ij_mt_seed(IjMt19937 *m, uint64_t seed);
/* Next 32-bit output (identical to std::mt19937). */
uint32_t ij_mt_next(IjMt19937 *m);
/* torch.rand(1, generator=g).item() for a float32 tensor: exact k / 2^24. */
double ij_mt_torch_rand(IjMt19937 *m);

#endif

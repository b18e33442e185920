/* mt19937.c: MT19937 (Matsumoto & Nishimura 1998) with PyTorch's seeding; see mt19937.h. */
#include "train/mt19937.h"

enum { MT_N = 624, MT_M = 397 };

void ij_mt_seed(IjMt19937 *m, uint64_t seed)
{
    m->s[0] = (uint32_t)seed;  /* torch keeps only the low 32 bits */
    for (int i = 1; i < MT_N; i++) m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = MT_N;
}

static void twist(IjMt19937 *m)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (m->s[i] & 0x80000000u) | (m->s[(i + 1) % MT_N] & 0x7fffffffu);
        m->s[i] = m->s[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    m->i = 0;
}

uint32_t ij_mt_next(IjMt19937 *m)
{
    if (m->i >= MT_N) twist(m);
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

double ij_mt_torch_rand(IjMt19937 *m) { return (double)(ij_mt_next(m) & 0xFFFFFFu) / 16777216.0; }

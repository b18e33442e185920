/* cpu_stack.h: the cpu backend's stack of ViT blocks (backend.h, stack.h), and the sizes of what it
 * keeps in a stack's memory beside the activations. */
#ifndef IJEPA_BACKEND_CPU_STACK_H
#define IJEPA_BACKEND_CPU_STACK_H

#include "backend/stack.h"

float *ij_cpu_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg, IjChunkObserver observe,
                           void *ctx);
void ij_cpu_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off, int nseg,
                           IjLayerObserver observe, void *ctx);
void ij_cpu_stack_prepack_bf16_begin(IjStack *s);
void ij_cpu_stack_prepack_bf16_block(IjStack *s, const IjBlockW *w, int l);
/* Floats of one block's packed weights (every layout they take), and of one chunk's column sums. */
size_t ij_cpu_stack_pack_floats(int D, int H);
size_t ij_cpu_stack_colsum_floats(int D, int H);

#endif

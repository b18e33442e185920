/* ref_ops.h: the ref backend (backend.h): every operation as the plain loops of its definition. */
#ifndef IJEPA_BACKEND_REF_OPS_H
#define IJEPA_BACKEND_REF_OPS_H

#include "backend/stack.h"

void ij_ref_linear_forward(float *out, const float *in, const float *w, const float *b, int T, int Cin, int Cout,
                           IjBf16Path bf16);
void ij_ref_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            int T, int Cin, int Cout, IjBf16Path bf16);
void ij_ref_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                              int T, int C, float eps);
void ij_ref_layernorm_backward_acc(float *dx, float *dw, float *db, const float *dy, const float *x,
                                   const float *mean, const float *rstd, const float *w, int T, int C);
void ij_ref_gelu_forward(float *y, const float *x, size_t n);
void ij_ref_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
void ij_ref_attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg, int D,
                              int heads, IjBf16Path bf16);
void ij_ref_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                               const int *seg_off, int nseg, int D, int heads, float *scratch, IjBf16Path bf16);
void ij_ref_adamw_ema(float *params, const float *grads, float *m, float *v, const IjParamRange *r, int nr,
                      float *target, size_t n_ema, const IjAdamScalars *k);
float *ij_ref_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg, IjChunkObserver observe,
                            void *ctx);
void ij_ref_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off, int nseg,
                           IjLayerObserver observe, void *ctx);

#endif

/* kernels.h: the numerical building blocks, each a *_forward / *_backward pair.
 *
 * Conventions: row-major float32; T = number of token rows; shapes in the
 * comments. Backward functions ACCUMULATE (+=) into parameter gradients
 * (dw, db); input gradients are overwritten unless the name says _acc.
 * Ragged batches: sequences of different lengths are stored back to back and
 * described by seg_off[0..nseg] (sequence s owns rows seg_off[s]..seg_off[s+1]-1);
 * only attention looks across rows, and only inside one sequence.
 * Threading: OpenMP over independent output rows or (sequence, head) pairs,
 * fixed reduction order, so results do not depend on thread timing.
 */
#ifndef IJEPA_KERNELS_H
#define IJEPA_KERNELS_H

#include "kernels/bf16.h"

#include <stddef.h>

/* out[T,Cout] = in[T,Cin] @ w[Cout,Cin]^T + b[Cout]  (b may be NULL). With a vector kernel (gemm.h)
 * this and ij_linear_backward_input pack w into the calling thread's scratch and split the rows over
 * the threads in whole register tiles (the result does not depend on the thread count); otherwise
 * BLAS. The functions that take bf16 run their products with bf16 operands on that path (bf16.h;
 * IJ_BF16_OFF: float32). */
void ij_linear_forward(float *out, const float *in, const float *w, const float *b, int T, int Cin, int Cout,
                    IjBf16Path bf16);
/* out[T,Cout] = res[T,Cout] + in @ w^T + b (a residual branch's output projection; out != res; b may be NULL) */
void ij_linear_forward_residual(float *out, const float *in, const float *w, const float *b, const float *res,
                             int T, int Cin, int Cout);
/* din[T,Cin] = dout[T,Cout] @ w[Cout,Cin] (skipped if din NULL); dw[Cout,Cin] += dout^T @ in; db[Cout] += sum_t dout */
void ij_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int T, int Cin, int Cout, IjBf16Path bf16);
/* The two halves of ij_linear_backward: din only; dw and db (db may be NULL) only. */
void ij_linear_backward_input(float *din, const float *dout, const float *w, int T, int Cin, int Cout, IjBf16Path bf16);
void ij_linear_backward_params(float *dw, float *db, const float *dout, const float *in, int T, int Cin, int Cout,
                            IjBf16Path bf16);
/* On one thread, for rows of a chunk (see gemm.h): out = in @ w^T + b (+ res when res != NULL) with
 * wp = w packed by ij_gemm_pack_wt, and din = dout @ w with wp = w packed by ij_gemm_pack_w. With wp NULL
 * (no vector kernel on this machine) the same through BLAS. With bf16 set, wp holds bf16 pairs packed
 * by ij_gemm_bf16_pack_wt / ij_gemm_bf16_pack_w (never NULL: every build has that kernel). */
void ij_linear_forward_rows(float *out, const float *in, const float *w, const void *wp, const float *b,
                         const float *res, int T, int Cin, int Cout, IjBf16Path bf16);
void ij_linear_backward_input_rows(float *din, const float *dout, const float *w, const void *wp, int T, int Cin,
                                int Cout, IjBf16Path bf16);
/* din = (dout @ w) * scale[T,Cin] elementwise, the multiply in the product's epilogue (with wp; without,
 * a separate pass): the input gradient of a linear layer whose input went through GELU, scale = gelu'. */
void ij_linear_backward_input_scaled_rows(float *din, const float *dout, const float *w, const void *wp,
                                       const float *scale, int T, int Cin, int Cout, IjBf16Path bf16);

/* y[T,C] = (x - mean) * rstd * w + b, per row; mean/rstd[T] saved for backward (may be NULL).
 * w and b may be NULL (no affine). Biased variance. */
void ij_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int T, int C, float eps);
/* dx[T,C] += dLN/dx; dw[C] += sum dy*xhat; db[C] += sum dy (dx/dw/db/w may be NULL). */
void ij_layernorm_backward_acc(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *w, int T, int C);
/* On the calling thread: dx = res + dLN/dx (dx may alias res), for a chunk's rows. */
void ij_layernorm_backward_rows(float *dx, const float *res, const float *dy, const float *x, const float *mean,
                             const float *rstd, const float *w, int T, int C);

/* Exact GELU 0.5 x (1 + erf(x / sqrt 2)), elementwise over n values. */
void ij_gelu_forward(float *y, const float *x, size_t n);
/* dx = dy * gelu'(x); dx may alias dy. */
void ij_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
/* The training form: y = gelu(x), and x overwritten with gelu'(x) from the same erf, so the backward
 * pass is one product (ij_gelu_backward_slope) instead of a second erf and exp per value. */
void ij_gelu_forward_keep_slope(float *y, float *x_to_slope, size_t n);
/* dx = dy * slope; dx may alias dy. */
void ij_gelu_backward_slope(float *dx, const float *dy, const float *slope, size_t n);

/* Multi-head self-attention core on a ragged batch.
 * qkv[T,3D] holds [q | k | v] per row, head h owns features h*hd..h*hd+hd-1 of each.
 * out[T,D] = concat_h softmax(q_h k_h^T / sqrt(hd)) v_h, computed inside each sequence.
 * probs: attention probabilities, sequence s head h at probs + att_probs_offset(s, h)
 * (total size ij_att_probs_size(seg_off, nseg, heads)).
 * With bf16 set, the products take bf16 operands: q, k, v and dout must come rounded already (the
 * callers round them where they are made), P and dS are rounded where the softmax and its backward
 * store them (P is kept rounded: the softmax backward reads that too); the products themselves run
 * in float32 on those values (their few L x L x hd multiply-adds are not worth a kernel of their own). */
size_t ij_att_probs_size(const int *seg_off, int nseg, int heads);
/* Floats of scratch the backward pass needs (one L x L matrix per thread, L the longest sequence, its
 * rows padded to a multiple of 16 floats). */
size_t ij_att_scratch_size(const int *seg_off, int nseg, int D, int heads);
void ij_attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg,
                       int D, int heads, IjBf16Path bf16);
/* dqkv[T,3D] (overwritten) from dout[T,D]. */
void ij_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                        const int *seg_off, int nseg, int D, int heads, float *scratch, IjBf16Path bf16);
/* x[n] rounded to bf16 in place (kept as float32 values): in a bf16 step the attention products'
 * operands q, k, v and d(attention output), rounded where they are made. */
void ij_bf16_round_inplace(float *x, size_t n);

/* Patch rows for chosen tokens: images[B,C,S,S]; for each output row r, sample
 * sample_of[r] token tok[r] (row-major patch index) gives C*p*p values ordered
 * channel, row-in-patch, column-in-patch (the conv weight's flattening). */
void ij_patchify(float *rows, const float *images, const int *sample_of, const int *tok, int nrows,
              int C, int S, int p);

/* dst[i,:] = src[idx[i],:] for i < n  (rows of width C) */
void ij_gather_rows(float *dst, const float *src, const int *idx, int n, int C);
/* dst[idx[i],:] += src[i,:] (sequential over i, so repeated indices are summed in order) */
void ij_scatter_add_rows(float *dst, const float *src, const int *idx, int n, int C);

#endif

/* stack.h: a stack of pre-norm ViT blocks over a ragged batch of sequences.
 *
 *   x = x + proj(attn(LN1(x)));  x = x + fc2(gelu(fc1(LN2(x))))
 *
 * The encoder, the target encoder and the predictor all run through this code.
 * A stack keeps what its backward pass needs in an IjStack (activations per
 * layer, sized by ij_stack_reserve, reused from step to step); its backend
 * (backend.h: cpu_stack.c, ref_stack.c) computes the blocks.
 */
#ifndef IJEPA_BACKEND_STACK_H
#define IJEPA_BACKEND_STACK_H

#include "backend/backend.h"
#include "kernels/bf16.h"

#include <stddef.h>

/* Pointers to one transformer block's tensors inside some flat buffer. */
typedef struct IjBlockW {
    float *norm1_w, *norm1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *norm2_w, *norm2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} IjBlockW;

typedef struct {
    float *ln1, *mean1, *rstd1;  /* [T,D], [T], [T] */
    float *qkv;                  /* [T,3D] */
    float *probs;                /* attention probabilities, ij_att_probs_size() floats */
    float *att;                  /* [T,D] heads concatenated, before proj */
    float *x1;                   /* [T,D] residual stream after attention */
    float *ln2, *mean2, *rstd2;  /* [T,D], [T], [T] */
    float *h, *g;                /* [T,H] fc1 output (training: GELU's slope there), GELU output */
} IjLayerCache;

typedef struct IjStack {
    const IjBackend *be; /* who computes the blocks: ij_backend_default() when the stack was made */
    int layers;        /* depth (training stacks; 1 for inference stacks, whose blocks keep no cache) */
    int depth;         /* blocks actually run */
    int D, H, heads;
    size_t cap_rows, cap_probs;
    float *x;          /* [layers + 1 (training) or 2 (inference: input, output)][cap_rows * D] */
    IjLayerCache *lc;  /* [layers], training stacks only */
    /* backward scratch, [T, width] each: what the parameter gradients need once all rows are done */
    float *dln, *datt, *dqkv, *dh, *att_scratch;
    float *dout, *dln2, *dx1; /* the second buffer of the blocks' input/output gradients, LN2's input gradient, d(x1) */
    size_t att_scratch_cap;
    /* per-chunk column sums of the backward pass (bias and LayerNorm-parameter gradients), 9D + H
     * floats per chunk, added up in chunk order once all chunks are done */
    float *colsum_part;
    size_t colsum_part_cap;
    float *mem;        /* one allocation behind all of the above */
    size_t mem_floats;
    int train;         /* keeps every layer's activations for backward (1) or only input and output rows (0) */
    /* The forward pass runs in chunks of whole sequences, each chunk through every block on one thread
     * (see ij_stack_forward); inference stacks in per-thread workspaces (chunk_mem). */
    int *chunk_seq;    /* [nchunks + 1]: chunk k holds sequences chunk_seq[k] .. chunk_seq[k+1]-1 */
    int nchunks, chunk_threads;
    size_t chunk_seq_cap, chunk_rows, chunk_probs, chunk_nseg; /* per-thread capacities */
    float *chunk_mem;  /* chunk_threads workspaces of chunk_floats each */
    int *chunk_seg;    /* chunk_threads lists of chunk_nseg + 1 relative offsets */
    size_t chunk_floats;
    /* The blocks' weight matrices packed for ij_gemm_rows (NULL without a vector kernel): each forward
     * pass packs w^T (ij_gemm_pack_wt), each backward pass w (ij_gemm_pack_w), from the weights it is given. */
    float *wpack;
    size_t wpack_floats;
    int wpack_shared;  /* wpack belongs to another stack (ij_stack_share_pack) */
    int pack_blocks;   /* blocks wpack holds: depth, or 1 for an inference stack whose packed weights would
                        * pass IJ_PACK_ALL_MAX_BYTES (it then runs block by block, packing each in turn) */
    int prepacked;     /* wpack holds every block packed once as bf16 (ij_stack_prepack_bf16_begin and _block): the float32
                        * matrices are not read again */
    /* The products' operands: float32 (IJ_BF16_OFF, the default) or bf16 on that path (kernels/bf16.h):
     * then wpack holds bf16 pairs (gemm_bf16_pack_*), and q, k, v and d(attention output) are rounded
     * where they are made. Set it between steps, never during one. */
    IjBf16Path bf16;
} IjStack;

void ij_stack_init(IjStack *s, int depth, int D, int H, int heads, int train);
/* Make room for T rows in sequences with the given lengths; allocates only
 * when the previous capacity is too small (so never in steady state). */
void ij_stack_reserve(IjStack *s, const int *seg_off, int nseg);
void ij_stack_free(IjStack *s);
/* Let s pack its weights into owner's buffer instead of its own (when owner's is large enough):
 * for stacks that never run at the same time, like the three of a model. Owner must outlive s. */
void ij_stack_share_pack(IjStack *s, const IjStack *owner);
/* An inference stack on the bf16 path: every block's matrices packed once, as bf16 (half the bytes of
 * the float32 weights), and never again; from then on the stack does not read w's matrices (they may
 * be given back). _begin makes the room (0, or -1 when the stack cannot: a training stack, float32,
 * another backend); then _block packs block l (every block, before the first forward pass). */
int ij_stack_prepack_bf16_begin(IjStack *s);
void ij_stack_prepack_bf16_block(IjStack *s, const IjBlockW *w, int l);

/* Input rows in ij_stack_input(s) [T,D]; returns the output rows [T,D].
 * The forward pass splits the sequences into chunks of at most IJ_CHUNK_ROWS rows (IJ_CHUNK_ROWS_INFER
 * for an inference stack; fewer for small
 * batches; fixed by the sequence lengths alone, planned by ij_stack_reserve), each chunk on one
 * thread with single-threaded products. An inference stack runs each chunk through all blocks (no
 * barrier between blocks; the chunk's activations stay in that core's cache, in a per-thread
 * workspace) and keeps only its input and output rows. A training stack runs block by block, the
 * block's chunks spread over the threads (its weights stay in cache), and writes the chunks' rows
 * of its per-layer caches (what the backward pass, block by block over all rows, reads). The chunks
 * do not depend on the thread count, so neither does the result. */
#ifndef IJ_CHUNK_ROWS
#define IJ_CHUNK_ROWS 256
#endif
/* An inference stack's products run on longer chunks: each product reads its weights from L3 once per
 * chunk, and the target encoder's forward pass (`ijepa bench`, config 1) ran 6% faster on chunks of
 * 784 rows than of 245 (its workspaces do not need to stay in cache for a backward pass). */
#ifndef IJ_CHUNK_ROWS_INFER
#define IJ_CHUNK_ROWS_INFER 1024
#endif
/* An inference stack packs every block's weights up front (and runs each chunk through all blocks)
 * while they take at most this much; past it (ViT-L and wider: packed weights as large as the weights
 * themselves) it packs one block at a time and runs block by block. */
#ifndef IJ_PACK_ALL_MAX_BYTES
#define IJ_PACK_ALL_MAX_BYTES ((size_t)256 << 20)
#endif
static inline float *ij_stack_input(IjStack *s) { return s->x; }
float *ij_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg);
/* The same, calling observe(ctx, l, x, row0, nrows) (IjChunkObserver, backend.h) with output rows
 * row0 .. row0 + nrows - 1 of block l in x [nrows, D], one chunk of whole sequences at a time, chunks
 * concurrently on different threads (observe must write only to places that belong to those rows). */
float *ij_stack_forward_observed(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg,
                                 IjChunkObserver observe, void *ctx);
/* dx: in: gradient w.r.t. the stack output [T,D]; out: w.r.t. its input.
 * Parameter gradients are accumulated into gw. Needs a train stack. */
void ij_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off,
                       int nseg);
/* The same, calling observe(ctx, l, dx) after block l, when gw[l] is final and dx holds the
 * gradient w.r.t. block l's input. */
void ij_stack_backward_observed(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off,
                                int nseg, IjLayerObserver observe, void *ctx);

#endif

/* model.c: allocation of an I-JEPA model and one forward/backward step. */
#include "model/model.h"

#include "core/error.h"
#include "core/timer.h"
#include "kernels/kernels.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TARGET_LN_EPS 1e-5f

int ij_model_init(IjModel *m, const IjConfig *c, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    if (ij_table_build(&m->tab, c)) return -1;
    m->cfg = *c;
    m->params = ij_alloc_aligned(sizeof(float) * m->tab.n_total);
    m->grads = ij_alloc_aligned(sizeof(float) * m->tab.n_total);
    m->target = ij_alloc_aligned(sizeof(float) * m->tab.n_encoder);
    ij_bind_encoder(&m->enc, m->params, &m->tab, c);
    ij_bind_encoder(&m->genc, m->grads, &m->tab, c);
    ij_bind_encoder(&m->tenc, m->target, &m->tab, c);
    ij_bind_predictor(&m->pred, m->params, &m->tab, c);
    ij_bind_predictor(&m->gpred, m->grads, &m->tab, c);
    ij_params_init(m->params, &m->tab, c, seed);
    ij_model_sync_target(m);
    m->be = ij_backend_default();
    m->loss_kind = IJ_LOSS_SMOOTH_L1;
    m->target_norm = 1;
    ij_stack_init(&m->ctx_stack, c->depth, c->embed_dim, c->mlp_dim, c->num_heads, 1);
    ij_stack_init(&m->pred_stack, c->pred_depth, c->pred_dim, c->pred_mlp_dim, c->num_heads, 1);
    ij_stack_init(&m->tgt_stack, c->depth, c->embed_dim, c->mlp_dim, c->num_heads, 0);
    /* the three stacks run one after the other: one buffer of packed weights serves them all */
    ij_stack_share_pack(&m->tgt_stack, &m->ctx_stack);
    ij_stack_share_pack(&m->pred_stack, &m->ctx_stack);
    return 0;
}

/* An encoder-only model with its weights' memory reserved but not written: an anonymous mapping (zero
 * pages, none resident until written; ij_model_free unmaps it), so that bf16 holding never has all the
 * float32 weights resident at once. */
static int encoder_shell(IjModel *m, const IjConfig *c)
{
    memset(m, 0, sizeof *m);
    if (ij_table_build(&m->tab, c)) return -1;
    m->cfg = *c;
    m->encoder_only = 1;
    m->map_size = sizeof(float) * m->tab.n_encoder;
    m->map = mmap(NULL, m->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->map == MAP_FAILED) {
        fprintf(stderr, "ijepa: out of memory mapping %zu bytes\n", m->map_size);
        exit(1);
    }
    m->params = m->map;
    ij_bind_encoder(&m->enc, m->params, &m->tab, c);
    ij_bind_encoder(&m->tenc, m->params, &m->tab, c);
    m->be = ij_backend_default();
    m->loss_kind = IJ_LOSS_SMOOTH_L1;
    m->target_norm = 1;
    ij_stack_init(&m->tgt_stack, c->depth, c->embed_dim, c->mlp_dim, c->num_heads, 0);
    return 0;
}

int ij_model_init_encoder_unset(IjModel *m, const IjConfig *c) { return encoder_shell(m, c); }

int ij_model_init_encoder(IjModel *m, const IjConfig *c, uint64_t seed)
{
    if (encoder_shell(m, c)) return -1;
    ij_params_init_part(m->params, &m->tab, c, seed, IJ_PART_ENCODER);
    return 0;
}

void ij_model_sync_target(IjModel *m)
{
    if (m->encoder_only) return; /* tenc is enc */
    memcpy(m->target, m->params, sizeof(float) * m->tab.n_encoder);
}

void ij_model_set_bf16(IjModel *m, IjBf16Path path)
{
    IJ_ASSERT(!m->held_bf16 || path != IJ_BF16_OFF); /* its float32 matrices were given back */
    m->bf16 = path;
    m->ctx_stack.bf16 = m->pred_stack.bf16 = m->tgt_stack.bf16 = path;
}

void ij_model_set_backend(IjModel *m, const IjBackend *be)
{
    m->be = m->ctx_stack.be = m->pred_stack.be = m->tgt_stack.be = be;
}

/* Give back the whole pages inside [p, p + n floats): zero pages if read again (never, by then). */
static void give_back(const float *p, size_t n)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page, hi = ((uintptr_t)(p + n)) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Pack block l's matrices as bf16 and give their float32 pages back: one block resident at a time. */
static void hold_block(IjModel *m, int l)
{
    const size_t D = (size_t)m->cfg.embed_dim, H = (size_t)m->cfg.mlp_dim;
    IjBlockW *b = &m->tenc.blocks[l], *e = &m->enc.blocks[l];
    ij_stack_prepack_bf16_block(&m->tgt_stack, m->tenc.blocks, l);
    give_back(b->qkv_w, 3 * D * D), give_back(b->proj_w, D * D), give_back(b->fc1_w, H * D), give_back(b->fc2_w, D * H);
    b->qkv_w = b->proj_w = b->fc1_w = b->fc2_w = NULL; /* read no more: the packed bf16 copies serve */
    e->qkv_w = e->proj_w = e->fc1_w = e->fc2_w = NULL;
}

int ij_model_hold_bf16(IjModel *m)
{
    if (!m->encoder_only || m->bf16 == IJ_BF16_OFF)
        return ij_error("bf16 weights: only for the encoder of feature extraction, on a bf16 path");
    if (ij_stack_prepack_bf16_begin(&m->tgt_stack))
        return ij_error("bf16 weights: the %s backend keeps float32 weights", m->be->name);
    for (int l = 0; l < m->cfg.depth; l++) hold_block(m, l);
    m->held_bf16 = 1;
    return 0;
}

/* Whether table tensor t is one of a block's four matrices (what bf16 holding packs). */
static int block_matrix(const IjTensor *t)
{
    const char *dot = strrchr(t->name, '.');
    return !strncmp(t->name, "blocks.", 7) && dot && !strcmp(dot, ".weight") && t->ndim == 2;
}

int ij_model_init_encoder_bf16(IjModel *m, const IjConfig *c, uint64_t seed, IjBf16Path path)
{
    if (encoder_shell(m, c)) return -1;
    ij_model_set_bf16(m, path);
    if (path == IJ_BF16_OFF || ij_stack_prepack_bf16_begin(&m->tgt_stack)) {
        ij_model_free(m);
        return ij_error("bf16 weights: a bf16 path and the cpu backend are needed");
    }
    for (int i = 0; i < m->tab.n; i++) /* everything but the blocks' matrices */
        if (m->tab.t[i].part == IJ_PART_ENCODER && !block_matrix(&m->tab.t[i])) ij_params_init_tensor(m->params, &m->tab, c, seed, i);
    for (int l = 0, i = 0; l < c->depth; l++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "blocks.%d.", l);
        for (i = 0; i < m->tab.n; i++) /* this block's matrices, then packed and given back */
            if (m->tab.t[i].part == IJ_PART_ENCODER && block_matrix(&m->tab.t[i]) &&
                !strncmp(m->tab.t[i].name, prefix, strlen(prefix)))
                ij_params_init_tensor(m->params, &m->tab, c, seed, i);
        hold_block(m, l);
    }
    m->held_bf16 = 1;
    return 0;
}

static size_t stack_bytes(const IjStack *s, size_t *packed)
{
    if (!s->wpack_shared) *packed += sizeof(float) * s->wpack_floats;
    return sizeof(float) * (s->mem_floats + s->chunk_floats * (size_t)s->chunk_threads + s->colsum_part_cap) +
           sizeof(int) * (s->chunk_seq_cap + (s->chunk_nseg + 1) * (size_t)s->chunk_threads);
}

IjModelMemory ij_model_memory(const IjModel *m)
{
    IjModelMemory r = {0};
    r.weights = sizeof(float) * (m->encoder_only ? m->tab.n_encoder : m->tab.n_total + m->tab.n_encoder);
    if (m->held_bf16) { /* the blocks' matrices live in the packed buffer only */
        const size_t D = (size_t)m->cfg.embed_dim, H = (size_t)m->cfg.mlp_dim;
        r.weights -= sizeof(float) * (size_t)m->cfg.depth * (4 * D * D + 2 * H * D);
    }
    r.training = m->grads ? sizeof(float) * m->tab.n_total : 0;
    r.activations = stack_bytes(&m->ctx_stack, &r.packed) + stack_bytes(&m->pred_stack, &r.packed) +
                    stack_bytes(&m->tgt_stack, &r.packed);
    const IjBuf *bufs[] = {&m->b_patches, &m->b_rows, &m->b_ctx_out, &m->b_ctx_mean, &m->b_ctx_rstd,
                           &m->b_targets, &m->b_full_out, &m->b_full_seg, &m->b_full_rows,
                           &m->b_pred_seg, &m->b_pred_tgt_row, &m->b_embed, &m->b_pn_in, &m->b_pn_out,
                           &m->b_pn_mean, &m->b_pn_rstd, &m->b_preds, &m->b_dpreds, &m->b_dtmp,
                           &m->b_dpred_x, &m->b_dpn_in, &m->b_dembed, &m->b_dctx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) r.activations += bufs[i]->cap;
    return r;
}

void ij_model_free(IjModel *m)
{
    ij_unbind_encoder(&m->enc);
    ij_unbind_encoder(&m->genc);
    ij_unbind_encoder(&m->tenc);
    ij_unbind_predictor(&m->pred);
    ij_unbind_predictor(&m->gpred);
    ij_stack_free(&m->ctx_stack);
    ij_stack_free(&m->pred_stack);
    ij_stack_free(&m->tgt_stack);
    IjBuf *bufs[] = {&m->b_patches, &m->b_rows, &m->b_ctx_out, &m->b_ctx_mean, &m->b_ctx_rstd,
                     &m->b_targets, &m->b_full_out, &m->b_full_seg, &m->b_full_rows,
                     &m->b_pred_seg, &m->b_pred_tgt_row, &m->b_embed, &m->b_pn_in, &m->b_pn_out,
                     &m->b_pn_mean, &m->b_pn_rstd, &m->b_preds, &m->b_dpreds, &m->b_dtmp,
                     &m->b_dpred_x, &m->b_dpn_in, &m->b_dembed, &m->b_dctx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) ij_buf_free(bufs[i]);
    if (m->map) munmap(m->map, m->map_size); /* the weights were the file's pages */
    else free(m->params);
    free(m->grads);
    free(m->target);
    ij_table_free(&m->tab);
    memset(m, 0, sizeof *m);
}

/* Target features: target encoder on every token, LayerNorm without affine,
 * then the rows of each target block, in (block, sample, token) order. */
static void compute_targets(IjModel *m, const float *images, const IjMasks *mk)
{
    int B = mk->batch, nseq = mk->num_targets * B, N = ij_num_patches(&m->cfg);
    int D = m->cfg.embed_dim, T = mk->tgt_off[nseq];
    float *full = ij_encoder_forward_full(m, &m->tenc, images, B);
    m->targets = IJ_BUF_F(&m->b_targets, (size_t)T * D);
#pragma omp parallel for schedule(static) if (T > 256)
    for (int q = 0; q < nseq; q++) {
        int b = q % B;
        for (int j = mk->tgt_off[q]; j < mk->tgt_off[q + 1]; j++)
            memcpy(m->targets + (size_t)j * D, full + ((size_t)b * N + mk->tgt_idx[j]) * D,
                   sizeof(float) * (size_t)D);
    }
    if (m->target_norm)
        m->be->layernorm_forward(m->targets, NULL, NULL, m->targets, NULL, NULL, T, D, TARGET_LN_EPS);
}

float ij_model_step(IjModel *m, const float *images, const IjMasks *mk, int grads_wanted)
{
    IJ_ASSERT(!m->encoder_only);
    double t0 = ij_now();
    compute_targets(m, images, mk);
    double t1 = ij_now();
    ij_encoder_forward_context(m, images, mk);
    double t2 = ij_now();
    ij_predictor_forward(m, mk);
    size_t n = (size_t)m->n_tgt * m->cfg.embed_dim;
    float *dpreds = grads_wanted ? IJ_BUF_F(&m->b_dpreds, n) : NULL;
    float loss = ij_loss_part(m->loss_kind, m->preds, m->targets, dpreds, n, m->loss_denom ? m->loss_denom : n);
    double t3 = ij_now();
    if (grads_wanted) {
        size_t ng = m->tab.n_total;
#pragma omp parallel if (ng > 65536)
        { /* 25 MB for config 1: on one thread the other waited */
            size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
            memset(m->grads + ng * id / nt, 0, sizeof(float) * (ng * (id + 1) / nt - ng * id / nt));
        }
        float *dctx = ij_predictor_backward(m, dpreds, mk);
        if (m->grads_ready) m->grads_ready(m->grads_ready_ctx, m->tab.n_encoder);
        ij_encoder_backward_context(m, dctx, mk);
    }
    double t4 = ij_now();
    m->time.target = t1 - t0;
    m->time.context = t2 - t1;
    m->time.predictor = t3 - t2;
    m->time.backward = t4 - t3;
    return loss;
}

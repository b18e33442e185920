/* predictor.c: the narrow ViT that predicts target-block features from the context.
 *
 * One sequence per (target block i, sample b), in that order:
 *   [ embed(ctx_out_b) + pos[ctx_b] ; mask_token + pos[tgt_{i,b}] ]
 * so target blocks never see each other. Only the target rows go through the
 * final LayerNorm and projection (both are per row).
 */
#include "model/model.h"

#include "kernels/kernels.h"

#include <string.h>

#define LN_EPS 1e-6f

void ij_predictor_forward(IjModel *m, const IjMasks *mk)
{
    const IjConfig *c = &m->cfg;
    int B = mk->batch, nt = mk->num_targets, nseq = nt * B;
    int D = c->embed_dim, Dp = c->pred_dim, Tctx = m->n_ctx;
    int Ttgt = mk->tgt_off[nseq];
    const IjPredictorW *w = &m->pred;

    float *emb = IJ_BUF_F(&m->b_embed, (size_t)Tctx * Dp);
    m->be->linear_forward(emb, m->ctx_out, w->embed_w, w->embed_b, Tctx, D, Dp, m->bf16);

    int *seg = IJ_BUF_I(&m->b_pred_seg, nseq + 1);
    seg[0] = 0;
    for (int q = 0; q < nseq; q++) {
        int b = q % B;
        seg[q + 1] = seg[q] + (mk->ctx_off[b + 1] - mk->ctx_off[b]) + (mk->tgt_off[q + 1] - mk->tgt_off[q]);
    }
    m->n_pred = seg[nseq];
    m->n_tgt = Ttgt;
    ij_stack_reserve(&m->pred_stack, seg, nseq);
    float *x = ij_stack_input(&m->pred_stack);
    int *tgt_row = IJ_BUF_I(&m->b_pred_tgt_row, Ttgt);
#pragma omp parallel for schedule(static) if (Ttgt > 256)
    for (int q = 0; q < nseq; q++) {
        int b = q % B;
        float *r = x + (size_t)seg[q] * Dp;
        for (int j = mk->ctx_off[b]; j < mk->ctx_off[b + 1]; j++, r += Dp) {
            const float *e = emb + (size_t)j * Dp, *pe = w->pos_embed + (size_t)mk->ctx_idx[j] * Dp;
            for (int d = 0; d < Dp; d++) r[d] = e[d] + pe[d];
        }
        for (int j = mk->tgt_off[q]; j < mk->tgt_off[q + 1]; j++, r += Dp) {
            const float *pe = w->pos_embed + (size_t)mk->tgt_idx[j] * Dp;
            for (int d = 0; d < Dp; d++) r[d] = w->mask_token[d] + pe[d];
            tgt_row[j] = (int)((r - x) / Dp);
        }
    }
    float *y = ij_stack_forward(&m->pred_stack, w->blocks, seg, nseq);

    float *pn_in = IJ_BUF_F(&m->b_pn_in, (size_t)Ttgt * Dp);
    float *pn_out = IJ_BUF_F(&m->b_pn_out, (size_t)Ttgt * Dp);
    ij_gather_rows(pn_in, y, tgt_row, Ttgt, Dp);
    m->be->layernorm_forward(pn_out, IJ_BUF_F(&m->b_pn_mean, Ttgt), IJ_BUF_F(&m->b_pn_rstd, Ttgt), pn_in,
                      w->norm_w, w->norm_b, Ttgt, Dp, LN_EPS);
    m->preds = IJ_BUF_F(&m->b_preds, (size_t)Ttgt * D);
    m->be->linear_forward(m->preds, pn_out, w->proj_w, w->proj_b, Ttgt, Dp, D, m->bf16);
}

float *ij_predictor_backward(IjModel *m, const float *dpreds, const IjMasks *mk)
{
    const IjConfig *c = &m->cfg;
    int B = mk->batch, nt = mk->num_targets, nseq = nt * B;
    int D = c->embed_dim, Dp = c->pred_dim, Tctx = m->n_ctx, Ttgt = m->n_tgt, Tp = m->n_pred;
    const IjPredictorW *w = &m->pred;
    IjPredictorW *g = &m->gpred;
    const int *seg = (const int *)m->b_pred_seg.p;
    const int *tgt_row = (const int *)m->b_pred_tgt_row.p;

    /* projection and final norm, on target rows only */
    float *dpn = IJ_BUF_F(&m->b_dtmp, (size_t)Ttgt * Dp);
    m->be->linear_backward(dpn, g->proj_w, g->proj_b, dpreds, (const float *)m->b_pn_out.p, w->proj_w,
                    Ttgt, Dp, D, m->bf16);
    float *dx = IJ_BUF_F(&m->b_dpred_x, (size_t)Tp * Dp);
    memset(dx, 0, sizeof(float) * (size_t)Tp * Dp);
    float *dpn_in = IJ_BUF_F(&m->b_dpn_in, (size_t)Ttgt * Dp);
    memset(dpn_in, 0, sizeof(float) * (size_t)Ttgt * Dp);
    m->be->layernorm_backward_acc(dpn_in, g->norm_w, g->norm_b, dpn, (const float *)m->b_pn_in.p,
                           (const float *)m->b_pn_mean.p, (const float *)m->b_pn_rstd.p, w->norm_w,
                           Ttgt, Dp);
    ij_scatter_add_rows(dx, dpn_in, tgt_row, Ttgt, Dp);

    ij_stack_backward(&m->pred_stack, w->blocks, g->blocks, dx, seg, nseq);

    /* token assembly: mask token and the context embedding, summed over target blocks */
    float *demb = IJ_BUF_F(&m->b_dembed, (size_t)Tctx * Dp);
    /* by sample (its rows of demb are its own), its target blocks in order: the sums of the serial loop */
#pragma omp parallel for schedule(static) if (Tctx > 64)
    for (int b = 0; b < B; b++) {
        memset(demb + (size_t)mk->ctx_off[b] * Dp, 0, sizeof(float) * (size_t)(mk->ctx_off[b + 1] - mk->ctx_off[b]) * Dp);
        for (int q = b; q < nseq; q += B) {
            const float *r = dx + (size_t)seg[q] * Dp;
            for (int j = mk->ctx_off[b]; j < mk->ctx_off[b + 1]; j++, r += Dp) {
                float *de = demb + (size_t)j * Dp;
                for (int d = 0; d < Dp; d++) de[d] += r[d];
            }
        }
    }
    for (int q = 0; q < nseq; q++) {
        const float *r = dx + (size_t)(seg[q] + mk->ctx_off[q % B + 1] - mk->ctx_off[q % B]) * Dp;
        for (int j = mk->tgt_off[q]; j < mk->tgt_off[q + 1]; j++, r += Dp)
            for (int d = 0; d < Dp; d++) g->mask_token[d] += r[d];
    }
    float *dctx = IJ_BUF_F(&m->b_dctx, (size_t)Tctx * D);
    m->be->linear_backward(dctx, g->embed_w, g->embed_b, demb, m->ctx_out, w->embed_w, Tctx, D, Dp, m->bf16);
    return dctx;
}

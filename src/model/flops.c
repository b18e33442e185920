/* flops.c: see flops.h. */
#include "model/flops.h"

double ij_stack_flops(const int *seg_off, int nseg, int depth, int D, int H)
{
    double T = seg_off[nseg], sq = 0;
    for (int s = 0; s < nseg; s++) {
        double L = seg_off[s + 1] - seg_off[s];
        sq += L * L;
    }
    double linear = 2.0 * T * ((double)D * 3 * D + (double)D * D + 2.0 * D * H);
    double attention = 2.0 * 2.0 * sq * D; /* q k^T and P v over all heads */
    return depth * (linear + attention);
}

double ij_encoder_image_flops(const IjConfig *c)
{
    int N = ij_num_patches(c);
    int seg[2] = {0, N};
    return 2.0 * N * ij_patch_dim(c) * c->embed_dim +
           ij_stack_flops(seg, 1, c->depth, c->embed_dim, c->mlp_dim);
}

IjStepFlops ij_model_step_flops(const IjModel *m, const IjMasks *mk, int backward)
{
    const IjConfig *c = &m->cfg;
    IjStepFlops f = {0};
    int B = mk->batch, nseq = mk->num_targets * B;
    double D = c->embed_dim, Dp = c->pred_dim, K = ij_patch_dim(c);
    f.target = B * ij_encoder_image_flops(c);
    double patch = 2.0 * m->n_ctx * K * D;
    double ctx_blocks = ij_stack_flops(mk->ctx_off, B, c->depth, c->embed_dim, c->mlp_dim);
    f.context = patch + ctx_blocks;
    double pred_lin = 2.0 * m->n_ctx * D * Dp + 2.0 * m->n_tgt * Dp * D;
    double pred_blocks = ij_stack_flops((const int *)m->b_pred_seg.p, nseq, c->pred_depth,
                                        c->pred_dim, c->pred_mlp_dim);
    f.predictor = pred_lin + pred_blocks;
    if (backward) f.backward = patch + 2.0 * (ctx_blocks + pred_lin + pred_blocks);
    f.total = f.target + f.context + f.predictor + f.backward;
    return f;
}

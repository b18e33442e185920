/* test_parity.c: the whole model against the PyTorch reference fixture.
 *
 * tests/fixtures/parity.safetensors is written by tests/reference/make_fixture.py
 * (a PyTorch model built from SPEC, float64): weights, images, ragged masks,
 * the outputs and every gradient. Here the C model loads the same weights,
 * runs one forward/backward step, and every output and gradient tensor must
 * match within 1e-4 relative error (||c - ref|| / ||ref||).
 */
#include "testlib.h"

#include "core/error.h"
#include "io/checkpoint.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double rel_err(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

static float *read_f32(const StFile *f, const char *name, size_t *n)
{
    const StTensor *t = st_find(f, name);
    CHECKF(t != NULL, "fixture lacks %s", name);
    if (!t) exit(1);
    *n = st_numel(t);
    float *p = ij_malloc(sizeof(float) * *n);
    CHECK(st_read_f32(f, t, p, *n) == 0);
    return p;
}

static int *read_i32(const StFile *f, const char *name, size_t *n)
{
    const StTensor *t = st_find(f, name);
    CHECKF(t != NULL, "fixture lacks %s", name);
    if (!t) exit(1);
    *n = st_numel(t);
    int *p = ij_malloc(sizeof(int) * *n);
    CHECK(st_read_i32(f, t, (int32_t *)p, *n) == 0);
    return p;
}

static double compare(const StFile *f, const char *name, const float *got, size_t n)
{
    size_t m;
    float *ref = read_f32(f, name, &m);
    CHECKF(m == n, "%s: %zu values, expected %zu", name, n, m);
    double e = m == n ? rel_err(got, ref, n) : INFINITY;
    CHECKF(e <= 1e-4, "%s: relative error %.3g", name, e);
    free(ref);
    return e;
}

int main(void)
{
    StFile f = {0};
    const char *path = test_fixture("parity.safetensors");
    if (st_open(&f, path)) {
        fprintf(stderr, "%s\n", ij_last_error());
        return 1;
    }
    IjConfig cfg;
    CHECK(ij_config_from_meta(&f, &cfg) == 0);
    IjModel m;
    CHECK(ij_model_init(&m, &cfg, 1) == 0);

    /* our sin-cos table equals the reference's */
    int N = ij_num_patches(&cfg);
    float *pe = ij_malloc(sizeof(float) * (size_t)N * cfg.embed_dim);
    ij_sincos_pos_embed(pe, ij_grid(&cfg), cfg.embed_dim);
    compare(&f, "encoder.pos_embed", pe, (size_t)N * cfg.embed_dim);
    free(pe);

    const char *ignore[] = {"input.", "masks.", "out.", "grad.", "step."};
    int rc = ij_checkpoint_load_file(&m, &f, NULL, 0, ignore, 5);
    CHECKF(rc == 0, "load: %s", ij_last_error());

    size_t n_img, n_ci, n_cl, n_ti, n_tl;
    float *images = read_f32(&f, "input.images", &n_img);
    int *ctx_idx = read_i32(&f, "masks.context", &n_ci);
    int *ctx_len = read_i32(&f, "masks.context_len", &n_cl);
    int *tgt_idx = read_i32(&f, "masks.target", &n_ti);
    int *tgt_len = read_i32(&f, "masks.target_len", &n_tl);
    int B = (int)n_cl, nt = (int)n_tl / B;
    int *ctx_off = ij_calloc((size_t)B + 1, sizeof(int));
    int *tgt_off = ij_calloc(n_tl + 1, sizeof(int));
    for (int b = 0; b < B; b++) ctx_off[b + 1] = ctx_off[b] + ctx_len[b];
    for (size_t q = 0; q < n_tl; q++) tgt_off[q + 1] = tgt_off[q] + tgt_len[q];
    IjMasks mk = {B, nt, ctx_idx, ctx_off, tgt_idx, tgt_off};
    CHECK((size_t)ctx_off[B] == n_ci && (size_t)tgt_off[n_tl] == n_ti);

    size_t one;
    float *ref_loss = read_f32(&f, "out.loss", &one);
    float *ref_l2 = read_f32(&f, "out.loss_l2", &one);

    /* L2 loss first (forward only), then the smooth-L1 step with gradients */
    m.loss_kind = IJ_LOSS_L2;
    float l2 = ij_model_step(&m, images, &mk, 0);
    CHECKF(fabsf(l2 - ref_l2[0]) <= 1e-4f * fabsf(ref_l2[0]), "L2 loss %.8f vs %.8f", l2, ref_l2[0]);
    m.loss_kind = IJ_LOSS_SMOOTH_L1;
    float loss = ij_model_step(&m, images, &mk, 1);
    CHECKF(fabsf(loss - ref_loss[0]) <= 1e-4f * fabsf(ref_loss[0]), "loss %.8f vs %.8f", loss,
           ref_loss[0]);
    printf("loss: C %.8f  PyTorch %.8f\n", loss, ref_loss[0]);

    int D = cfg.embed_dim;
    compare(&f, "out.context", m.ctx_out, (size_t)m.n_ctx * D);
    compare(&f, "out.target", m.targets, (size_t)m.n_tgt * D);
    compare(&f, "out.pred", m.preds, (size_t)m.n_tgt * D);

    double worst = 0;
    char worst_name[160] = "";
    int ngrad = 0;
    for (int i = 0; i < m.tab.n; i++) {
        const IjTensor *t = &m.tab.t[i];
        if (!t->trainable) continue;
        char full[128], name[160];
        ij_tensor_full_name(full, sizeof full, t, 0);
        snprintf(name, sizeof name, "grad.%s", full);
        double e = compare(&f, name, m.grads + t->offset, t->numel);
        ngrad++;
        if (e > worst) {
            worst = e;
            snprintf(worst_name, sizeof worst_name, "%s", name);
        }
    }
    printf("gradients: %d tensors, worst relative error %.3g (%s)\n", ngrad, worst, worst_name);
    CHECK(ngrad > 30);

    free(images); free(ctx_idx); free(ctx_len); free(tgt_idx); free(tgt_len);
    free(ctx_off); free(tgt_off); free(ref_loss); free(ref_l2);
    ij_model_free(&m);
    st_close(&f);
    return test_exit_code("test_parity");
}

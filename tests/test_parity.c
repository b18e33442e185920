/* test_parity.c: the whole model against the PyTorch reference fixture.
 *
 * tests/fixtures/parity.safetensors is written by tests/reference/make_fixture.py
 * (a PyTorch model built from SPEC, float64): weights, images, ragged masks,
 * the outputs and every gradient. Here the C model loads the same weights,
 * runs one forward/backward step, and every output and gradient tensor must
 * match within 1e-4 relative error (||c - ref|| / ||ref||).
 *
 * Then the same step with bf16 operands in every matrix product (meta.use_bfloat16), on each path this
 * machine runs (emulated everywhere, AVX512_BF16 where the CPU has it), against the same float64
 * reference. The tolerance, derived: rounding an operand to bf16 (8 significant bits, to nearest)
 * changes it by at most u = 2^-9 relative, so one product's output moves by at most 2u relative to
 * sum |a b| (both operands); in norm, with errors that do not all line up, by about u. A value that
 * went through P products in sequence carries about u sqrt(P) if the errors are independent, at most
 * 2uP if they add up. The fixture's deepest chain is a gradient of the first encoder block: the target
 * encoder's forward, the context encoder's forward, the predictor forward and backward, and the
 * encoder's backward, about 5 products per block in each (qkv, two in attention, proj, fc1/fc2),
 * about P = 40 here; u sqrt(P) = 0.012, 2uP = 0.16. The test takes 0.05 (a few times the independent
 * estimate, a third of the worst case) for every output and gradient, and 1e-2 for the loss, a mean
 * over many products whose errors average out; measured: see the printed worst errors. The two paths
 * sum the same pairs in the same order, so they must agree within 1e-5 (not bit for bit only because
 * vdpbf16ps flushes denormals).
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
    const StTensor *t = ij_st_find(f, name);
    CHECKF(t != NULL, "fixture lacks %s", name);
    if (!t) exit(1);
    *n = ij_st_numel(t);
    float *p = ij_malloc(sizeof(float) * *n);
    CHECK(ij_st_read_f32(f, t, p, *n) == 0);
    return p;
}

static int *read_i32(const StFile *f, const char *name, size_t *n)
{
    const StTensor *t = ij_st_find(f, name);
    CHECKF(t != NULL, "fixture lacks %s", name);
    if (!t) exit(1);
    *n = ij_st_numel(t);
    int *p = ij_malloc(sizeof(int) * *n);
    CHECK(ij_st_read_i32(f, t, (int32_t *)p, *n) == 0);
    return p;
}

static double compare_tol(const StFile *f, const char *name, const float *got, size_t n, double tol,
                          const char *label)
{
    size_t m;
    float *ref = read_f32(f, name, &m);
    CHECKF(m == n, "%s: %zu values, expected %zu", name, n, m);
    double e = m == n ? rel_err(got, ref, n) : INFINITY;
    CHECKF(e <= tol, "%s%s: relative error %.3g (tolerance %.3g)", label, name, e, tol);
    free(ref);
    return e;
}

static double compare(const StFile *f, const char *name, const float *got, size_t n)
{
    return compare_tol(f, name, got, n, 1e-4, "");
}

/* One smooth-L1 step with gradients, every output and gradient against the fixture within tol (the loss
 * within loss_tol); returns the worst relative error. */
static double step_against_fixture(const StFile *f, IjModel *m, const float *images, const IjMasks *mk, double tol,
                                   double loss_tol, const char *label)
{
    size_t one;
    float *ref_loss = read_f32(f, "out.loss", &one);
    m->loss_kind = IJ_LOSS_SMOOTH_L1;
    float loss = ij_model_step(m, images, mk, 1);
    CHECKF(fabsf(loss - ref_loss[0]) <= loss_tol * fabsf(ref_loss[0]), "%sloss %.8f vs %.8f", label, loss,
           ref_loss[0]);
    printf("%sloss: C %.8f  PyTorch %.8f\n", label, loss, ref_loss[0]);
    free(ref_loss);
    int D = m->cfg.embed_dim;
    double worst = 0;
    char worst_name[160] = "";
    struct { const char *name; const float *x; size_t n; } outs[3] = {
        {"out.context", m->ctx_out, (size_t)m->n_ctx * D}, {"out.target", m->targets, (size_t)m->n_tgt * D},
        {"out.pred", m->preds, (size_t)m->n_tgt * D}};
    for (int i = 0; i < 3; i++) {
        double e = compare_tol(f, outs[i].name, outs[i].x, outs[i].n, tol, label);
        if (e > worst) worst = e, snprintf(worst_name, sizeof worst_name, "%s", outs[i].name);
    }
    int ngrad = 0;
    for (int i = 0; i < m->tab.n; i++) {
        const IjTensor *t = &m->tab.t[i];
        if (!t->trainable) continue;
        char full[128], name[160];
        ij_tensor_full_name(full, sizeof full, t, 0);
        snprintf(name, sizeof name, "grad.%s", full);
        double e = compare_tol(f, name, m->grads + t->offset, t->numel, tol, label);
        ngrad++;
        if (e > worst) worst = e, snprintf(worst_name, sizeof worst_name, "%s", name);
    }
    printf("%soutputs and %d gradient tensors: worst relative error %.3g (%s)\n", label, ngrad, worst, worst_name);
    CHECK(ngrad > 30);
    return worst;
}

int main(void)
{
    StFile f = {0};
    const char *path = test_fixture("parity.safetensors");
    printf("backend %s\n", ij_backend_default()->name);
    if (ij_st_open(&f, path)) {
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
    step_against_fixture(&f, &m, images, &mk, 1e-4, 1e-4, "");

    /* bf16 operands on every path this machine runs; the paths against each other */
    IjBf16Path paths[2] = {IJ_BF16_EMULATED, IJ_BF16_AVX512};
    float *grads[2] = {NULL, NULL};
    for (int p = 0; p < 2; p++) {
        if (!ij_bf16_path_supported(paths[p])) {
            printf("bf16 %s: not on this machine\n", ij_bf16_path_name(paths[p]));
            continue;
        }
        char label[64];
        snprintf(label, sizeof label, "bf16 %s: ", ij_bf16_path_name(paths[p]));
        ij_model_set_bf16(&m, paths[p]);
        double worst = step_against_fixture(&f, &m, images, &mk, 0.05, 1e-2, label);
        CHECKF(worst > 1e-4, "%sworst error %.3g: the products did not round their operands", label, worst);
        grads[p] = ij_malloc(sizeof(float) * m.tab.n_total);
        memcpy(grads[p], m.grads, sizeof(float) * m.tab.n_total);
    }
    if (grads[0] && grads[1]) {
        double e = rel_err(grads[1], grads[0], m.tab.n_total);
        printf("bf16 avx512bf16 against emulated: relative difference of all gradients %.3g\n", e);
        CHECKF(e <= 1e-5, "the bf16 paths differ: %.3g", e);
    }
    free(grads[0]);
    free(grads[1]);
    ij_model_set_bf16(&m, IJ_BF16_OFF);

    free(images); free(ctx_idx); free(ctx_len); free(tgt_idx); free(tgt_len);
    free(ctx_off); free(tgt_off); free(ref_loss); free(ref_l2);
    ij_model_free(&m);
    ij_st_close(&f);
    return test_exit_code("test_parity");
}

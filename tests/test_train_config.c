/* test_train_config.c: the official ViT-H/14 config loads and sets the fields (block and flow
 * lists); every field survives save + load bit-exactly; print writes the saved text; each kind of
 * bad file (unknown key/section, wrong type, wrong list length, unsupported option, YAML syntax
 * error, missing file, ...) fails with the file, the line and a distinctive phrase; validate and
 * the model builder reject bad values. */
#include "core/error.h"
#include "train/train_config.h"
#include "testlib.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/%s", test_tmpdir(), name);
    return path[slot];
}

static const char *write_file(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs(text, fp);
        CHECK(fclose(fp) == 0);
    }
    return path;
}

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Number of "*.tmp.*" entries left in the temporary directory (atomic writes leave none). */
static int count_tmp_files(void)
{
    DIR *d = opendir(test_tmpdir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

/* facebookresearch/ijepa configs/in1k_vith14_ep300.yaml, as dumped there (block lists). */
static const char *official_vith14 =
    "data:\n  batch_size: 128\n  color_jitter_strength: 0.0\n  crop_scale:\n  - 0.3\n  - 1.0\n"
    "  crop_size: 224\n  image_folder: imagenet_full_size/061417/\n  num_workers: 10\n  pin_mem: true\n"
    "  root_path: /datasets/\n  use_color_distortion: false\n  use_gaussian_blur: false\n"
    "  use_horizontal_flip: false\n"
    "logging:\n  folder: /your_folder/vith14.224-bs.2048-ep.300/\n  write_tag: jepa\n"
    "mask:\n  allow_overlap: false\n  aspect_ratio:\n  - 0.75\n  - 1.5\n  enc_mask_scale:\n  - 0.85\n  - 1.0\n"
    "  min_keep: 10\n  num_enc_masks: 1\n  num_pred_masks: 4\n  patch_size: 14\n  pred_mask_scale:\n"
    "  - 0.15\n  - 0.2\n"
    "meta:\n  copy_data: false\n  load_checkpoint: false\n  model_name: vit_huge\n  pred_depth: 12\n"
    "  pred_emb_dim: 384\n  read_checkpoint: null\n  use_bfloat16: true\n"
    "optimization:\n  ema:\n  - 0.996\n  - 1.0\n  epochs: 300\n  final_lr: 1.0e-06\n  final_weight_decay: 0.4\n"
    "  ipe_scale: 1.0\n  lr: 0.001\n  start_lr: 0.0002\n  warmup: 40\n  weight_decay: 0.04\n";

static void test_official(void)
{
    IjTrainConfig c;
    ij_train_config_defaults(&c);
    const char *path = write_file("vith14.yaml", official_vith14);
    CHECKF(ij_train_config_load_yaml(&c, path) == 0, "%s", ij_last_error());
    CHECK(strcmp(c.data, "/datasets/imagenet_full_size/061417/") == 0);
    CHECK(c.batch_size == 128 && c.crop_size == 224 && c.patch_size == 14);
    CHECK(c.crop_scale[0] == 0.3 && c.crop_scale[1] == 1.0);
    CHECK(c.aspect_ratio[0] == 0.75 && c.aspect_ratio[1] == 1.5);
    CHECK(c.enc_mask_scale[0] == 0.85 && c.pred_mask_scale[1] == 0.2);
    CHECK(c.min_keep == 10 && c.num_enc_masks == 1 && c.num_pred_masks == 4 && c.allow_overlap == 0);
    CHECK(strcmp(c.model_name, "vit_huge") == 0 && c.pred_depth == 12 && c.pred_emb_dim == 384);
    CHECK(c.ema[0] == 0.996 && c.ema[1] == 1.0 && c.epochs == 300 && c.warmup == 40);
    CHECK(c.final_lr == 1e-6 && c.lr == 0.001 && c.start_lr == 0.0002);
    CHECK(c.weight_decay == 0.04 && c.final_weight_decay == 0.4 && c.ipe_scale == 1.0);
    CHECK(strcmp(c.folder, "/your_folder/vith14.224-bs.2048-ep.300/") == 0);
    /* Keys the file does not have keep their defaults. */
    CHECK(c.channels == 0 && c.seed == 0 && strcmp(c.masks, "official") == 0 && c.log_every == 50);
    c.channels = 3;
    CHECKF(ij_train_config_validate(&c) == 0, "%s", ij_last_error());
    IjConfig m;
    CHECK(ij_train_config_model(&c, &m) == 0);
    CHECK(m.img_size == 224 && m.patch_size == 14 && m.channels == 3 && m.embed_dim == 1280 && m.depth == 32);
    CHECK(m.num_heads == 16 && m.mlp_dim == 5120 && m.pred_dim == 384 && m.pred_depth == 12 && m.pred_mlp_dim == 1536);

    /* The same in flow style, plus extension keys; data.dataset wins over root_path/image_folder. */
    ij_train_config_defaults(&c);
    path = write_file("flow.yaml",
                      "data:\n  dataset: /data/cifar\n  root_path: /datasets/\n  image_folder: x/\n"
                      "  crop_scale: [0.4, 0.9]\n  crop_ratio: [0.5, 2]\n  channels: 3\n  use_horizontal_flip: true\n"
                      "mask: {mode: fixed, min_keep: 0}\n"
                      "meta:\n  target_norm: false\n  seed: 7\n  loss: l2\n  embed_dim: 64\n  depth: 2\n  num_heads: 2\n"
                      "  use_bfloat16: false\n  copy_data: true\n  read_checkpoint: ~\n"
                      "logging:\n  max_steps: 100\n  max_minutes: 1.5\n  log_every: 5\n  threads: 4\n"
                      "  checkpoint_every: 10\n  save_every_epochs: 2\n  write_tag: [any, value]\n"
                      "optimization:\n  ema: [0.99, 0.999]\n  use_ema: false\n");
    CHECKF(ij_train_config_load_yaml(&c, path) == 0, "%s", ij_last_error());
    CHECK(strcmp(c.data, "/data/cifar") == 0 && c.channels == 3 && c.use_horizontal_flip == 1);
    CHECK(c.crop_scale[0] == 0.4 && c.crop_scale[1] == 0.9 && c.crop_ratio[0] == 0.5 && c.crop_ratio[1] == 2);
    CHECK(strcmp(c.masks, "fixed") == 0 && c.min_keep == 0 && c.seed == 7 && strcmp(c.loss, "l2") == 0);
    CHECK(c.target_norm == 0);
    CHECK(c.embed_dim == 64 && c.depth == 2 && c.num_heads == 2 && c.max_steps == 100 && c.max_minutes == 1.5);
    CHECK(c.log_every == 5 && c.threads == 4 && c.checkpoint_every == 10 && c.save_every_epochs == 2);
    CHECK(c.ema[0] == 0.99 && c.ema[1] == 0.999 && c.use_ema == 0 && c.target_ratio == 0.6);
    CHECK(ij_train_config_model(&c, &m) == 0 && m.embed_dim == 64 && m.mlp_dim == 256 && m.depth == 2 &&
          m.num_heads == 2 && m.img_size == 28 && m.pred_dim == 96 && m.pred_mlp_dim == 384);

    /* root_path alone, image_folder alone, and empty sections (change nothing). */
    ij_train_config_defaults(&c);
    CHECK(ij_train_config_load_yaml(&c, write_file("root.yaml", "data:\n  root_path: /datasets\n")) == 0);
    CHECK(strcmp(c.data, "/datasets") == 0);
    CHECK(ij_train_config_load_yaml(&c, write_file("both.yaml", "data: {root_path: /d, image_folder: in1k}\n")) == 0);
    CHECK(strcmp(c.data, "/d/in1k") == 0);
    IjTrainConfig d;
    ij_train_config_defaults(&c);
    ij_train_config_defaults(&d);
    CHECK(ij_train_config_load_yaml(&c, write_file("emptysec.yaml", "logging:\nmask:\n")) == 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
}

static void set(char *dst, size_t size, const char *s)
{
    memset(dst, 0, size);
    snprintf(dst, size, "%s", s);
}
#define SET(field, s) set(field, sizeof field, s)

static void test_round_trip(void)
{
    IjTrainConfig a, b;
    /* Defaults: save, load over defaults, identical bytes. */
    ij_train_config_defaults(&a);
    CHECKF(ij_train_config_validate(&a) == 0, "%s", ij_last_error());
    const char *p1 = tmp_path("defaults.yaml");
    CHECKF(ij_train_config_save_yaml(&a, p1) == 0, "%s", ij_last_error());
    ij_train_config_defaults(&b);
    CHECKF(ij_train_config_load_yaml(&b, p1) == 0, "%s", ij_last_error());
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(count_tmp_files() == 0);

    /* Every field changed from its default, within its bounds (awkward strings, doubles that need
     * 17 digits): loading
     * the saved file over plain defaults must restore every byte, so every field is written. */
    ij_train_config_defaults(&a);
    SET(a.data, "/data/my set: \"v2\" #1\\x\tend");
    a.batch_size = 7, a.crop_scale[0] = 0.1 + 0.2, a.crop_scale[1] = 1.0 / 3;
    a.crop_ratio[0] = 1.0 / 7, a.crop_ratio[1] = 99.999999999999986, a.crop_size = 96, a.use_horizontal_flip = 1;
    SET(a.masks, "fixed");
    SET(a.probe_pool, "last4");
    a.num_enc_masks = 2, a.num_pred_masks = 3, a.enc_mask_scale[0] = 0.7, a.enc_mask_scale[1] = 0.9;
    a.pred_mask_scale[0] = 0.1, a.pred_mask_scale[1] = 0.25, a.aspect_ratio[0] = 0.01, a.aspect_ratio[1] = 2;
    a.min_keep = 11, a.allow_overlap = 1, a.patch_size = 8;
    SET(a.model_name, "vit_small");
    a.pred_depth = 3, a.pred_emb_dim = 48, a.embed_dim = 32, a.depth = 5, a.num_heads = 4, a.channels = 3;
    a.seed = 2147483647;
    SET(a.loss, "l2");
    a.ema[0] = 0.9, a.ema[1] = 0.99999999999999989, a.epochs = 12, a.final_lr = 1e-7, a.final_weight_decay = 0.5;
    a.lr = 2.0 / 3, a.start_lr = 1e-17, a.weight_decay = 0.05, a.warmup = 2.5, a.ipe_scale = 1.25;
    SET(a.folder, "null");
    a.max_steps = 1000, a.max_minutes = 0.1, a.log_every = 1, a.checkpoint_every = 9, a.save_every_epochs = 3;
    a.threads = 2;
    a.use_ema = 0, a.target_norm = 0, a.target_ratio = 0.1 + 0.7, a.probe_at_start = 0, a.diag_every = 7;
    const char *p2 = tmp_path("changed.yaml");
    CHECKF(ij_train_config_save_yaml(&a, p2) == 0, "%s", ij_last_error());
    ij_train_config_defaults(&b);
    CHECKF(ij_train_config_load_yaml(&b, p2) == 0, "%s", ij_last_error());
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(strcmp(b.data, a.data) == 0 && strcmp(b.folder, "null") == 0 && b.crop_ratio[0] == 1.0 / 7);

    /* Saving the loaded struct gives the same text; print writes that text to stdout. */
    const char *p3 = tmp_path("again.yaml"), *p4 = tmp_path("printed.yaml");
    CHECK(ij_train_config_save_yaml(&b, p3) == 0);
    fflush(stdout);
    int saved = dup(1);
    CHECK(saved >= 0 && freopen(p4, "w", stdout) != NULL);
    ij_train_config_print(&b);
    fflush(stdout);
    CHECK(dup2(saved, 1) == 1);
    close(saved);
    char *t2 = read_all(p2), *t3 = read_all(p3), *t4 = read_all(p4);
    CHECK(t2 && t3 && t4 && strcmp(t2, t3) == 0 && strcmp(t2, t4) == 0);
    /* Official layout: sections in order, official numbers readable by PyYAML. */
    CHECK(t2 && strstr(t2, "data:\n  batch_size: 7\n") && strstr(t2, "\noptimization:\n  ema: [0.9, "));
    CHECK(t2 && strstr(t2, "  final_lr: 1.0e-07\n") && strstr(t2, "  warmup: 2.5\n") &&
          strstr(t2, "  read_checkpoint: null\n"));
    CHECK(t2 && strstr(t2, "  folder: \"null\"\n") && strstr(t2, "  model_name: vit_small\n"));
    free(t2), free(t3), free(t4);
    char *t1 = read_all(p1);
    CHECK(t1 && strstr(t1, "  lr: 0.001\n") && strstr(t1, "  epochs: 300\n") && strstr(t1, "  warmup: 40.0\n"));
    free(t1);

    /* Saving into a folder that does not exist fails with the path; nothing is left behind. */
    const char *bad = tmp_path("no/such/dir/config.yaml");
    CHECK(ij_train_config_save_yaml(&a, bad) == -1 && strstr(ij_last_error(), bad));
    CHECK(count_tmp_files() == 0);
}

/* Loading `text` fails with a message containing the file name, `line` (if > 0) and `phrase`. */
static void expect_load_error(const char *text, int line, const char *phrase)
{
    IjTrainConfig c;
    ij_train_config_defaults(&c);
    ij_clear_error();
    const char *path = write_file("bad.yaml", text);
    char where[600];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    int rc = ij_train_config_load_yaml(&c, path);
    const char *e = ij_last_error();
    CHECKF(rc == -1 && strstr(e, path) && strstr(e, phrase) && (line <= 0 || strstr(e, where)),
           "rc %d, message '%s', wanted line %d and '%s'", rc, e, line, phrase);
}

static void test_load_errors(void)
{
    expect_load_error("data:\n  batch_size: 8\nmask:\n  foo: 1\n", 4, "unknown key 'mask.foo'");
    expect_load_error("data:\n  batch_size: 8\nmodel:\n  depth: 1\n", 3, "unknown section 'model'");
    expect_load_error("optimization: {lr: 0.1}\ndata: {mode: fixed}\n", 2, "unknown key 'data.mode'");
    expect_load_error("data:\n  batch_size: eight\n", 2, "data.batch_size: expected an integer, got 'eight'");
    expect_load_error("optimization:\n  epochs: 300.5\n", 2, "expected an integer, got '300.5'");
    expect_load_error("optimization:\n  lr: 1e-3x\n", 2, "optimization.lr: expected a number, got '1e-3x'");
    expect_load_error("optimization:\n  lr: \"0.001\"\n", 2, "got the quoted string '0.001'");
    expect_load_error("optimization:\n  lr: .nan\n", 2, "expected a number");
    expect_load_error("optimization:\n  lr: inf\n", 2, "expected a number");
    expect_load_error("data:\n  batch_size: 99999999999\n", 2, "expected an integer");
    expect_load_error("data:\n  use_horizontal_flip: maybe\n", 2, "expected true or false, got 'maybe'");
    expect_load_error("data:\n  use_horizontal_flip: 1\n", 2, "expected true or false");
    expect_load_error("meta:\n  model_name: [vit_tiny]\n", 2,
                      "meta.model_name: expected a string, got a list of 1 item");
    expect_load_error("meta:\n  model_name:\n", 2, "expected a string");
    expect_load_error("data:\n  crop_scale: [0.3]\n", 2, "expected a list of 2 numbers, got a list of 1 item");
    expect_load_error("mask:\n  aspect_ratio:\n  - 0.75\n  - 1.5\n  - 2\n", 3, "expected a list of 2 numbers");
    expect_load_error("mask:\n  aspect_ratio: 0.75\n", 2, "expected a list of 2 numbers, got '0.75'");
    expect_load_error("mask:\n  aspect_ratio: [0.75, x]\n", 2, "expected a list of 2 numbers");
    expect_load_error("data:\n  use_gaussian_blur: true\n", 2,
                      "'true' is not supported: only RandomResizedCrop and horizontal flip are implemented");
    expect_load_error("data:\n  use_color_distortion: true\n", 2, "not supported");
    expect_load_error("data:\n  color_jitter_strength: 0.4\n", 2, "data.color_jitter_strength: '0.4' is not supported");
    expect_load_error("meta:\n  load_checkpoint: true\n", 2, "--resume");
    expect_load_error("meta:\n  read_checkpoint: jepa-latest.pth.tar\n", 2,
                      "meta.read_checkpoint: 'jepa-latest.pth.tar' is not supported");
    expect_load_error("data:\n  batch_size: 8\n  batch_size: 9\n", 3, "duplicate key 'data.batch_size'");
    expect_load_error("data:\n  crop_scale: [0.3, 1.0\nmask:\n  min_keep: 3\n", 0, "YAML syntax error");
    expect_load_error("data:\n  batch_size: 8\n crop_size: 28\n", 3, "YAML syntax error");
    expect_load_error("- data\n- mask\n", 1, "expected sections");
    expect_load_error("data: 3\n", 1, "section 'data' must hold");
    expect_load_error("data: {batch_size: 8}\n---\nmask: {min_keep: 1}\n", 0, "only one YAML document");
    /* the bounds of the settings table hold in YAML as on the command line (issue 25) */
    expect_load_error("meta:\n  depth: 1000000000\n", 2, "meta.depth: 1000000000 is out of range [0, 256]");
    expect_load_error("meta:\n  pred_depth: 100000\n", 2, "meta.pred_depth: 100000 is out of range [1, 256]");
    expect_load_error("meta:\n  seed: -1\n", 2, "meta.seed: -1 is out of range [0, 2147483647]");
    expect_load_error("mask:\n  num_pred_masks: 1000000\n", 2, "mask.num_pred_masks: 1000000 is out of range [1, 64]");
    expect_load_error("data:\n  crop_scale: [0.3, 2]\n", 2, "data.crop_scale: 2 is out of range [0, 1]");
    expect_load_error("optimization:\n  ema: [0.9, 1.5]\n", 2, "optimization.ema: 1.5 is out of range [0, 1]");
    expect_load_error("# nothing\n", 0, "holds no settings");

    IjTrainConfig c;
    ij_train_config_defaults(&c);
    const char *missing = tmp_path("does-not-exist.yaml");
    CHECK(ij_train_config_load_yaml(&c, missing) == -1 && strstr(ij_last_error(), missing) &&
          strstr(ij_last_error(), "cannot open"));
}

/* validate fails on `c` with a message containing `phrase`. */
static void expect_invalid(const IjTrainConfig *c, const char *phrase, const char *what)
{
    ij_clear_error();
    int rc = ij_train_config_validate(c);
    CHECKF(rc == -1 && strstr(ij_last_error(), phrase), "%s: rc %d, message '%s', wanted '%s'", what, rc,
           ij_last_error(), phrase);
}
#define BAD(stmt, phrase) \
    do { \
        IjTrainConfig c_; \
        ij_train_config_defaults(&c_); \
        IjTrainConfig *c = &c_; \
        stmt; \
        expect_invalid(c, phrase, #stmt); \
    } while (0)

static void test_validate(void)
{
    IjTrainConfig base;
    ij_train_config_defaults(&base);
    CHECK(ij_train_config_validate(&base) == 0);
    BAD(c->batch_size = 0, "data.batch_size (--batch-size): 0 is out of range [1, 1048576]");
    BAD(c->epochs = 0, "optimization.epochs (--epochs): 0 is out of range [1, 1048576]");
    BAD(c->crop_scale[0] = 0, "data.crop_scale (0, 1)");
    BAD(c->crop_scale[1] = 1.5, "data.crop_scale");
    BAD((c->pred_mask_scale[0] = 0.3, c->pred_mask_scale[1] = 0.2), "mask.pred_mask_scale (0.3, 0.2)");
    BAD(c->enc_mask_scale[0] = -0.1, "mask.enc_mask_scale");
    BAD(c->crop_ratio[1] = 0.5, "data.crop_ratio (0.75, 0.5)");
    BAD(c->aspect_ratio[0] = 0, "mask.aspect_ratio");
    BAD(c->crop_size = 30, "data.crop_size 30 is not a positive multiple of mask.patch_size 4");
    BAD(c->patch_size = 0, "mask.patch_size (--patch-size): 0 is out of range [1, 256]");
    BAD(c->depth = 1000000000, "meta.depth (--depth): 1000000000 is out of range [0, 256]");
    BAD(c->pred_depth = 100000, "meta.pred_depth (--pred-depth): 100000 is out of range [1, 256]");
    BAD(c->seed = -1, "meta.seed (--seed): -1 is out of range [0, 2147483647]");
    BAD(set(c->probe_pool, sizeof c->probe_pool, "mean"), "logging.probe_pool must be 'last' or 'last4', got 'mean'");
    BAD(set(c->masks, sizeof c->masks, "blocks"), "mask.mode must be 'official', 'fixed', 'block', 'random' or 'raster', got 'blocks'");
    BAD((set(c->masks, sizeof c->masks, "raster"), c->allow_overlap = 1), "mask.allow_overlap has no meaning");
    BAD(c->target_ratio = 1.0, "mask.target_ratio must be in (0, 1), got 1");
    BAD(set(c->loss, sizeof c->loss, "l1"), "meta.loss must be 'smooth_l1' or 'l2', got 'l1'");
    BAD(c->lr = -1e-3, "optimization.lr (--lr): -0.001 is out of range [0, 1000000000]");
    BAD(c->start_lr = -1, "optimization.start_lr (--start-lr): -1 is out of range");
    BAD(c->weight_decay = -0.1, "optimization.weight_decay (--weight-decay): -0.1 is out of range [0, 10]");
    BAD((c->ema[0] = 0.999, c->ema[1] = 0.99), "optimization.ema (0.999, 0.99)");
    BAD(c->ema[1] = 1.01, "optimization.ema");
    BAD(c->warmup = 301, "optimization.warmup 301");
    BAD(c->channels = 2, "data.channels must be 0 (the images' own), 1 or 3, got 2");
    BAD(c->num_pred_masks = 0, "mask.num_pred_masks (--num-targets): 0 is out of range [1, 64]");
    BAD(c->num_enc_masks = 2, "mask.num_enc_masks 2 is not supported");
    BAD(c->min_keep = -1, "mask.min_keep (--min-keep): -1 is out of range [0, 1048576]");
    BAD(c->ipe_scale = 0, "optimization.ipe_scale");
    BAD(c->log_every = 0, "logging.log_every");
    BAD(c->threads = -1, "logging.threads");
    BAD(c->data[0] = '\0', "data.dataset is empty");
    BAD(set(c->model_name, sizeof c->model_name, "vit_mega"), "unknown model 'vit_mega'");
    BAD(c->num_heads = 5, "head count 5");

    IjConfig m;
    ij_train_config_defaults(&base);
    CHECK(ij_train_config_model(&base, &m) == -1); /* channels 0: the images' own, not known yet */
    base.channels = 1;
    CHECK(ij_train_config_model(&base, &m) == 0);
    CHECK(m.img_size == 28 && m.channels == 1 && m.patch_size == 4 && m.embed_dim == 192 && m.depth == 12);
    CHECK(m.num_heads == 3 && m.mlp_dim == 768 && m.pred_dim == 96 && m.pred_depth == 6 && m.pred_mlp_dim == 384);
    base.embed_dim = 128, base.num_heads = 4, base.depth = 3;
    CHECK(ij_train_config_model(&base, &m) == 0 && m.embed_dim == 128 && m.mlp_dim == 512 && m.depth == 3 &&
          m.num_heads == 4);
}

int main(void)
{
    test_official();
    test_round_trip();
    test_load_errors();
    test_validate();
    return test_exit_code("test_train_config");
}

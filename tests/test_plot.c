/* test_plot.c: PNG line charts. Renders a 2-panel chart with known data, reads it back with libpng
 * and checks size, background, series colours, where lines land (through the exported axis
 * mapping, linear and log), NaN gaps, the title glyphs; then tick choice, degenerate inputs and
 * one-line errors naming the file. */
#include "core/error.h"
#include "io/plot.h"
#include "testlib.h"

#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define W 800
#define H 700

#define BLUE 0x1f77b4u
#define ORANGE 0xff7f0eu
#define GREEN 0x2ca02cu
#define RED 0xd62728u
#define PURPLE 0x9467bdu

static char *path_of(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

typedef struct {
    uint8_t *px; /* (h, w, 3) */
    int w, h;
} Rgb;

static int read_png(const char *path, Rgb *out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return -1;
    img.format = PNG_FORMAT_RGB;
    out->px = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, out->px, 0, NULL)) {
        free(out->px);
        png_image_free(&img);
        return -1;
    }
    out->w = (int)img.width, out->h = (int)img.height;
    return 0;
}

static uint32_t pixel(const Rgb *im, int x, int y)
{
    const uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Pixels of exactly rgb in columns x0..x1, rows y0..y1 (inclusive, clipped). */
static int count_color(const Rgb *im, uint32_t rgb, int x0, int x1, int y0, int y1)
{
    int n = 0;
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < im->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < im->w; x++) n += pixel(im, x, y) == rgb;
    return n;
}

static int is_dark(uint32_t c)
{
    return (c >> 16 & 255) < 100 && (c >> 8 & 255) < 100 && (c & 255) < 100;
}

/* ---- the main chart --------------------------------------------------------------------------- */

enum { NL = 101, NP = 11 };
static double lx[NL], ly[NL];                            /* loss = 10^(-x/10): straight on a log axis */
static double px[NP], pconst[NP], prise[NP], pgap[NP], pnan[NP];

static void make_data(void)
{
    for (int i = 0; i < NL; i++) lx[i] = i * 0.1, ly[i] = pow(10, -lx[i] / 10);
    for (int i = 0; i < NP; i++) {
        px[i] = i;
        pconst[i] = 0.5;
        prise[i] = i * 0.1;
        pgap[i] = i == 5 ? NAN : 0.2;
        pnan[i] = NAN;
    }
}

static void test_chart(void)
{
    make_data();
    IjSeries s1[1] = {{"loss", lx, ly, NL, BLUE}};
    IjSeries s2[5] = {{"const", px, pconst, NP, GREEN},
                      {"rise", px, prise, NP, ORANGE},
                      {"gap", px, pgap, NP, RED},
                      {NULL, px, pconst, 0, 0x8c564bu}, /* empty */
                      {NULL, px, pnan, NP, PURPLE}};    /* all NaN */
    IjPanel panels[2] = {
        {.title = "Loss", .xlabel = "minutes", .ylabel = "loss", .series = s1, .nseries = 1, .log_y = 1},
        {.title = "Accuracy", .xlabel = "minutes", .ylabel = "top-1", .series = s2, .nseries = 5},
    };
    const char *path = path_of("chart.png");
    ij_clear_error();
    int rc = ij_plot_png(path, "Test chart", panels, 2, W, H);
    CHECKF(rc == 0, "%s", ij_last_error());
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    Rgb im = {0};
    CHECK(read_png(path, &im) == 0);
    if (!im.px) return;
    CHECK(im.w == W && im.h == H);
    CHECK(pixel(&im, 0, 0) == 0xffffffu);
    CHECK(pixel(&im, W - 1, H - 1) == 0xffffffu);

    /* every drawn series shows its colour */
    CHECK(count_color(&im, BLUE, 0, W, 0, H) > 200);
    CHECK(count_color(&im, GREEN, 0, W, 0, H) > 200);
    CHECK(count_color(&im, ORANGE, 0, W, 0, H) > 200);
    CHECK(count_color(&im, RED, 0, W, 0, H) > 100);

    /* the title: dark glyph pixels in the top rows, centred */
    int dark = 0, xmin = W, xmax = -1;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < W; x++)
            if (is_dark(pixel(&im, x, y))) {
                dark++;
                if (x < xmin) xmin = x;
                if (x > xmax) xmax = x;
            }
    CHECKF(dark > 100, "%d dark pixels", dark);
    CHECK(abs((xmin + xmax) / 2 - W / 2) < 8);

    IjPlotAxis ax, ay;
    CHECK(ij_plot_panel_axes("Test chart", panels, 2, W, H, 1, &ax, &ay) == 0);
    CHECK(ay.p_lo > ay.p_hi && ax.p_lo < ax.p_hi && ay.lo < 0 && ay.hi > 1 && !ay.log);
    CHECK(ax.p_hi < W && ay.p_lo < H && ay.p_hi > H / 2); /* the second panel is the lower half */

    /* the constant series lies on the row where 0.5 maps: nearly all green there, in nearly every column */
    int row = (int)floor(ij_plot_map(&ay, 0.5));
    int c0 = (int)ceil(ij_plot_map(&ax, 0.0)), c1 = (int)floor(ij_plot_map(&ax, 10.0));
    int in_band = count_color(&im, GREEN, 0, W, row - 1, row + 1), total = count_color(&im, GREEN, 0, W, 0, H);
    CHECKF(in_band >= total * 9 / 10, "%d of %d green pixels on rows %d+-1", in_band, total, row);
    int cols = 0;
    for (int x = c0; x <= c1; x++) cols += count_color(&im, GREEN, x, x, row - 1, row + 1) > 0;
    CHECKF(cols >= (c1 - c0 + 1) * 9 / 10, "%d of %d columns", cols, c1 - c0 + 1);

    /* the NaN at x=5 breaks the red line between x=4 and x=6, and it is drawn on either side */
    int rrow = (int)floor(ij_plot_map(&ay, 0.2));
    int g0 = (int)ij_plot_map(&ax, 4.0) + 3, g1 = (int)ij_plot_map(&ax, 6.0) - 3;
    CHECK(g1 - g0 > 20);
    CHECK(count_color(&im, RED, g0, g1, rrow - 3, rrow + 3) == 0);
    CHECK(count_color(&im, RED, c0, g0 - 10, rrow - 1, rrow + 1) > (g0 - 10 - c0) * 9 / 10);
    CHECK(count_color(&im, RED, g1 + 10, c1, rrow - 1, rrow + 1) > (c1 - g1 - 10) * 9 / 10);

    /* the log panel: 10^(-x/10) lands where the log mapping puts it */
    CHECK(ij_plot_panel_axes("Test chart", panels, 2, W, H, 0, &ax, &ay) == 0);
    CHECK(ay.log && ay.lo > 0 && ay.lo < 0.1 && ay.hi > 1);
    CHECK(fabs(ij_plot_map(&ay, sqrt(ay.lo * ay.hi)) - 0.5 * (ay.p_lo + ay.p_hi)) < 1e-9);
    for (double x = 1; x <= 7; x += 1.5) { /* left of the legend (upper right) */
        int col = (int)floor(ij_plot_map(&ax, x));
        int r = (int)floor(ij_plot_map(&ay, pow(10, -x / 10)));
        CHECKF(count_color(&im, BLUE, col, col, r - 2, r + 2) > 0, "x=%g col %d row %d", x, col, r);
        CHECK(count_color(&im, BLUE, col, col, 0, r - 4) + count_color(&im, BLUE, col, col, r + 4, H) == 0);
    }
    free(im.px);
}

/* ---- axes and ticks --------------------------------------------------------------------------- */

static int same(const double *a, int n, const double *b, int m)
{
    if (n != m) return 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > 1e-12 * fmax(1, fabs(b[i]))) return 0;
    return 1;
}

static void test_ticks(void)
{
    IjPlotAxis a = {0, 10, 0, 100, 200};
    CHECK(ij_plot_map(&a, 5) == 150);
    IjPlotAxis y = {1, 100, 1, 300, 100};
    CHECK(fabs(ij_plot_map(&y, 10) - 200) < 1e-9);

    double t[IJ_PLOT_MAX_TICKS];
    int n = ij_plot_ticks(&(IjPlotAxis){0.3, 9.7, 0, 0, 1}, 6, t);
    CHECK(same(t, n, (double[]){2, 4, 6, 8}, 4));
    n = ij_plot_ticks(&(IjPlotAxis){0, 1, 0, 0, 1}, 6, t);
    CHECK(same(t, n, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0}, 6));
    n = ij_plot_ticks(&(IjPlotAxis){-0.03, 0.12, 0, 0, 1}, 5, t);
    CHECK(same(t, n, (double[]){0, 0.05, 0.1}, 3));
    CHECK(n == 3 && t[0] == 0 && !signbit(t[0]));
    n = ij_plot_ticks(&(IjPlotAxis){0.06, 1.3, 1, 0, 1}, 8, t);
    CHECK(same(t, n, (double[]){0.1, 0.2, 0.5, 1}, 4));
    n = ij_plot_ticks(&(IjPlotAxis){1e-5, 10, 1, 0, 1}, 8, t);
    CHECK(same(t, n, (double[]){1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10}, 7));
    n = ij_plot_ticks(&(IjPlotAxis){1.5, 4.5, 1, 0, 1}, 8, t);
    CHECK(same(t, n, (double[]){2, 3, 4}, 3));
    CHECK(ij_plot_ticks(&(IjPlotAxis){1, 1, 0, 0, 1}, 8, t) == 0);
    CHECK(ij_plot_ticks(&(IjPlotAxis){-1, 1, 1, 0, 1}, 8, t) == 0);
}

/* ---- degenerate data and errors --------------------------------------------------------------- */

static void expect_error(const char *path, const char *title, const IjPanel *panels, int np, int w, int h,
                         const char *what)
{
    ij_clear_error();
    int rc = ij_plot_png(path, title, panels, np, w, h);
    const char *msg = ij_last_error();
    CHECKF(rc == -1, "rc %d for '%s'", rc, what);
    CHECKF(strstr(msg, path) != NULL, "message '%s' does not name %s", msg, path);
    CHECKF(strstr(msg, what) != NULL, "message '%s' does not say '%s'", msg, what);
    CHECK(strchr(msg, '\n') == NULL);
}

static void test_degenerate(void)
{
    make_data();
    double one_x = 3, one_y = 7, big[NP], neg[NP];
    for (int i = 0; i < NP; i++) big[i] = i % 2 ? 1e300 : -1e300, neg[i] = -1.0 - i;
    IjSeries dot[1] = {{"one point", &one_x, &one_y, 1, GREEN}};
    IjSeries none[2] = {{"empty", NULL, NULL, 0, BLUE}, {"all NaN", px, pnan, NP, RED}};
    IjSeries wild[1] = {{NULL, px, big, NP, ORANGE}};
    IjSeries nonpos[1] = {{"negative", px, neg, NP, BLUE}};
    IjPanel panels[5] = {
        {.title = "no series"},
        {.series = none, .nseries = 2, .log_y = 1},
        {.series = dot, .nseries = 1},
        {.series = wild, .nseries = 1, .ymin = 0, .ymax = 1}, /* far outside a fixed range: clipped */
        {.series = nonpos, .nseries = 1, .log_y = 1},          /* nothing plottable on a log axis */
    };
    const char *path = path_of("degenerate.png");
    ij_clear_error();
    CHECKF(ij_plot_png(path, NULL, panels, 5, 640, 1200) == 0, "%s", ij_last_error());
    Rgb im = {0};
    CHECK(read_png(path, &im) == 0);
    if (im.px) {
        CHECK(im.w == 640 && im.h == 1200);
        CHECK(count_color(&im, GREEN, 0, im.w, 0, im.h) > 4); /* the lone point is a dot (and a legend sample) */
        CHECK(count_color(&im, ORANGE, 0, im.w, 0, im.h) > 100);
        free(im.px);
    }
    IjPlotAxis ax, ay;
    CHECK(ij_plot_panel_axes(NULL, panels, 5, 640, 1200, 3, &ax, &ay) == 0);
    CHECK(ay.lo == 0 && ay.hi == 1);

    /* errors name the file */
    expect_error("/nonexistent-ijepa-dir/chart.png", NULL, panels, 1, 640, 480, "/nonexistent-ijepa-dir/chart.png");
    const char *dir = test_tmpdir(); /* renaming onto a directory fails after the file was written */
    expect_error(dir, NULL, panels, 1, 640, 480, "rename");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    expect_error(path, NULL, panels, 1, 100, 100, "image size");
    expect_error(path, NULL, panels, 0, 640, 480, "no panels");
    expect_error(path, NULL, panels, 5, 640, 400, "too small");
    IjPanel bad = {.series = dot, .nseries = 1, .log_y = 1, .ymin = -1, .ymax = NAN};
    expect_error(path, NULL, &bad, 1, 640, 480, "log");
    bad = (IjPanel){.series = dot, .nseries = 1, .ymin = 2, .ymax = 1};
    expect_error(path, NULL, &bad, 1, 640, 480, "range");
    IjSeries nodata[1] = {{"x", NULL, NULL, 3, BLUE}};
    bad = (IjPanel){.series = nodata, .nseries = 1};
    expect_error(path, NULL, &bad, 1, 640, 480, "no data");
    CHECK(ij_plot_panel_axes(NULL, panels, 5, 640, 1200, 5, &ax, &ay) == -1);
}

int main(void)
{
    test_ticks();
    test_chart();
    test_degenerate();
    return test_exit_code("test_plot");
}

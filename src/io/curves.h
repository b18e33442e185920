/* curves.h: the training-curve picture of a run (loss, online-probe accuracy and
 * the collapse diagnostics against minutes of training), drawn from its
 * metrics.jsonl; and the same curves of several runs in one picture. */
#ifndef IJEPA_IO_CURVES_H
#define IJEPA_IO_CURVES_H

/* Read metrics_path (JSON lines) and write png_path. */
int ij_curves_png(const char *metrics_path, const char *png_path, const char *title);

/* Several runs against training steps, one colour per run: loss, effective rank,
 * mean cosine, and the online-probe accuracy when some run probed more than twice. */
int ij_curves_compare_png(const char *const *metrics_paths, const char *const *labels, int n,
                          const char *png_path, const char *title);

#endif

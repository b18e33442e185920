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

/* The learning curve of a run: for each probe_paths[i] (the probe.json of `ijepa probe` on one of the
 * run's checkpoints; it names the checkpoint's step), the I-JEPA row's linear, attentive and k-NN test
 * accuracies against hours of training (the step's minutes in the run's metrics.jsonl), with the
 * random-init and raw-pixel rows drawn as horizontal lines. Returns 0, or -1 with an error. */
int ij_learning_png(const char *metrics_path, const char *const *probe_paths, int n, const char *png_path,
                    const char *title);

#endif

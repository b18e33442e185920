/* curves.h: the training-curve picture of a run (loss and online-probe accuracy
 * against minutes of training), drawn from its metrics.jsonl. */
#ifndef IJEPA_IO_CURVES_H
#define IJEPA_IO_CURVES_H

/* Read metrics_path (JSON lines) and write png_path. */
int ij_curves_png(const char *metrics_path, const char *png_path, const char *title);

#endif

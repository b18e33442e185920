/* stop_signal.h: stopping a long job cleanly on SIGTERM (what a cluster scheduler sends) and
 * SIGINT (Ctrl-C). While armed, the first such signal only records itself: the job finishes
 * what it is doing at a safe point (a training step), saves, and exits with 128 + the signal.
 * A second signal ends the process at once, as if nothing were armed. */
#ifndef IJEPA_CORE_STOP_SIGNAL_H
#define IJEPA_CORE_STOP_SIGNAL_H

void ij_stop_signal_arm(void);
/* The default actions again; what was recorded stays readable. */
void ij_stop_signal_disarm(void);
/* The signal received since arming (SIGTERM or SIGINT), or 0. */
int ij_stop_signal(void);
/* "SIGTERM" / "SIGINT" / "signal N" */
const char *ij_stop_signal_name(int sig);

#endif

/* stop_signal.c: see stop_signal.h. */
#include "core/stop_signal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t received;

static void on_signal(int sig)
{
    if (received) {
        /* the second one: the default action (termination), now */
        signal(sig, SIG_DFL);
        raise(sig);
        _exit(128 + sig);
    }
    received = sig;
}

static void set_handler(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

void ij_stop_signal_arm(void)
{
    received = 0;
    set_handler(on_signal);
}

void ij_stop_signal_disarm(void) { set_handler(SIG_DFL); }

int ij_stop_signal(void) { return received; }

const char *ij_stop_signal_name(int sig)
{
    static char buf[32];
    if (sig == SIGTERM) return "SIGTERM";
    if (sig == SIGINT) return "SIGINT";
    snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}

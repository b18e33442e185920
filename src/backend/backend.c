/* backend.c: the two backends' tables and the choice between them (backend.h). */
#include "backend/backend.h"

#include "backend/cpu_ops.h"
#include "backend/cpu_stack.h"
#include "backend/ref_ops.h"
#include "core/error.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const IjBackend ij_backend_cpu = {
    .name = "cpu",
    .linear_forward = ij_linear_forward,
    .linear_backward = ij_linear_backward,
    .layernorm_forward = ij_layernorm_forward,
    .layernorm_backward_acc = ij_layernorm_backward_acc,
    .gelu_forward = ij_gelu_forward,
    .gelu_backward = ij_gelu_backward,
    .attention_forward = ij_attention_forward,
    .attention_backward = ij_attention_backward,
    .adamw_ema = ij_cpu_adamw_ema,
    .stack_forward = ij_cpu_stack_forward,
    .stack_backward = ij_cpu_stack_backward,
};

const IjBackend ij_backend_ref = {
    .name = "ref",
    .linear_forward = ij_ref_linear_forward,
    .linear_backward = ij_ref_linear_backward,
    .layernorm_forward = ij_ref_layernorm_forward,
    .layernorm_backward_acc = ij_ref_layernorm_backward_acc,
    .gelu_forward = ij_ref_gelu_forward,
    .gelu_backward = ij_ref_gelu_backward,
    .attention_forward = ij_ref_attention_forward,
    .attention_backward = ij_ref_attention_backward,
    .adamw_ema = ij_ref_adamw_ema,
    .stack_forward = ij_ref_stack_forward,
    .stack_backward = ij_ref_stack_backward,
};

static const IjBackend *const backends[] = {&ij_backend_cpu, &ij_backend_ref};
static const IjBackend *chosen;

/* The backend with this name, or NULL (no message). */
static const IjBackend *lookup(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (name && strcmp(name, backends[i]->name) == 0) return backends[i];
    return NULL;
}

const IjBackend *ij_backend_find(const char *name)
{
    const IjBackend *be = lookup(name);
    if (!be) ij_error("unknown backend '%s' (cpu or ref)", name ? name : "");
    return be;
}

int ij_backend_check_env(void)
{
    const char *env = getenv("IJ_BACKEND");
    if (!env || !*env) return 0;
    return lookup(env) ? 0 : ij_error("IJ_BACKEND=%s: unknown backend (cpu or ref)", env);
}

const IjBackend *ij_backend_default(void)
{
    if (chosen) return chosen;
    const char *env = getenv("IJ_BACKEND");
    if (!env || !*env) return &ij_backend_cpu;
    const IjBackend *be = lookup(env);
    if (be) return be;
    static int warned;
    if (!warned) fprintf(stderr, "ijepa: IJ_BACKEND=%s: unknown backend, using cpu\n", env);
    warned = 1;
    return &ij_backend_cpu;
}

int ij_backend_set_default(const char *name)
{
    const IjBackend *be = ij_backend_find(name);
    if (!be) return -1;
    chosen = be;
    return 0;
}

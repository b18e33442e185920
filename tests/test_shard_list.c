/* test_shard_list.c: --data lists of shards: commas, WebDataset brace ranges and alternatives, globs,
 * and their errors. */
#include "testlib.h"

#include "core/error.h"
#include "data/shard_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* spec expands to the n paths of want (joined by '|'), or fails with a message holding want (n < 0). */
static void expect(const char *spec, int n, const char *want)
{
    char **p;
    int got;
    ij_clear_error();
    int rc = ij_shard_list(spec, &p, &got);
    if (n < 0) {
        CHECKF(rc == -1 && strstr(ij_last_error(), want), "%s: rc %d, message '%s'", spec, rc, ij_last_error());
        return;
    }
    CHECKF(rc == 0, "%s: %s", spec, ij_last_error());
    if (rc) return;
    char joined[4096] = "";
    for (int i = 0; i < got; i++) {
        if (i) strcat(joined, "|");
        strncat(joined, p[i], sizeof joined - strlen(joined) - 2);
    }
    CHECKF(got == n && !strcmp(joined, want), "%s -> %d: %s (want %d: %s)", spec, got, joined, n, want);
    ij_shard_list_free(p, got);
}

int main(void)
{
    expect("a.tar", 1, "a.tar");
    expect("a.tar,b.tar", 2, "a.tar|b.tar");
    expect("s-{000..003}.tar", 4, "s-000.tar|s-001.tar|s-002.tar|s-003.tar");
    expect("s-{8..10}.tar", 3, "s-8.tar|s-9.tar|s-10.tar");
    expect("s-{3..1}.tar", 3, "s-3.tar|s-2.tar|s-1.tar");
    expect("{a,b}/x-{0..1}.tar,c.tar", 5, "a/x-0.tar|a/x-1.tar|b/x-0.tar|b/x-1.tar|c.tar");
    expect("{train,val}.tar", 2, "train.tar|val.tar");
    expect("x{}.tar", 1, "x.tar");
    expect("a.tar,,b.tar", -1, "empty item");
    expect("s-{000..003.tar", -1, "unbalanced braces");
    expect("s-{0..9999999}.tar", -1, "too large");
    /* globs, after the braces: real files in a temporary folder */
    const char *dir = test_tmpdir();
    char path[1024], spec[1100], want[4096] = "";
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/g-%d.tar", dir, i);
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (f) fclose(f);
        if (i < 2) {
            if (i) strcat(want, "|");
            strcat(want, path);
        }
    }
    snprintf(spec, sizeof spec, "%s/g-[0-1].tar", dir);
    expect(spec, 2, want);
    snprintf(spec, sizeof spec, "%s/g-{0,1}.t*", dir);
    expect(spec, 2, want);
    snprintf(spec, sizeof spec, "%s/none-*.tar", dir);
    expect(spec, -1, "no file matches");
    return test_exit_code("test_shard_list");
}

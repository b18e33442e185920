/* shard_list.h: the shard paths a --data list names, in order.
 *
 * A list is comma-separated (commas inside braces belong to the braces); each item may hold brace
 * expansions as WebDataset writes them, `{000..009}` (a range, zero-padded to the width of its ends)
 * or `{a,b}` (alternatives), then glob patterns (`*`, `?`, `[...]`: the matches in sorted order).
 * A pattern that matches nothing is an error naming it. */
#ifndef IJEPA_DATA_SHARD_LIST_H
#define IJEPA_DATA_SHARD_LIST_H

/* Whether spec is such a list rather than one path (it has a comma, a brace or a glob character). */
int ij_shard_spec_is_list(const char *spec);
/* *paths gets n malloc'd strings in a malloc'd array (ij_shard_list_free); -1 with a message. */
int ij_shard_list(const char *spec, char ***paths, int *n);
void ij_shard_list_free(char **paths, int n);

#endif

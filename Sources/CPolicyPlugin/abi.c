#define _GNU_SOURCE
#include "ctlive_policy_plugin.h"

#include <string.h>

uint32_t ctlive_policy_copy_descriptor(const void *src, ctlive_policy_plugin_descriptor *dst) {
    memset(dst, 0, sizeof *dst);
    uint32_t size;
    memcpy(&size, src, sizeof size);
    uint32_t n = size < (uint32_t)sizeof *dst ? size : (uint32_t)sizeof *dst;
    memcpy(dst, src, n);
    dst->struct_size = size;
    return n;
}

const ctlive_policy_plugin_descriptor *ctlive_policy_call_entry(void *entry) {
    return ((ctlive_policy_plugin_entry_fn)entry)();
}

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

#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

int ctlive_policy_die_with_parent(void) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
#else
    return 0;
#endif
}

#include <fcntl.h>
#include <unistd.h>

int ctlive_policy_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

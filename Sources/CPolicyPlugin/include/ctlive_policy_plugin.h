/*
 * ctlive_policy_plugin.h — the CTLive policy plugin ABI, version 1.0.
 *
 * A policy plugin is a shared library that exports ONE symbol, `ctlive_policy_plugin_entry`,
 * returning a pointer to a constant descriptor that lives as long as the process (the host never
 * unloads a plugin). Only C types cross this boundary: strings are NUL-terminated UTF-8, the
 * configuration and the decision context are JSON texts (see docs/PLUGINS.md).
 *
 * Versioning: the host accepts a descriptor whose `abi_major` equals CTLIVE_POLICY_ABI_MAJOR and
 * whose `abi_minor` is not newer than the host's. Minor versions only ever append fields to the end
 * of the descriptor; `struct_size` tells the host how much of it the plugin knows, and the host
 * copies that prefix into a zeroed descriptor of its own size.
 */
#ifndef CTLIVE_POLICY_PLUGIN_H
#define CTLIVE_POLICY_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTLIVE_POLICY_ABI_MAJOR 1
#define CTLIVE_POLICY_ABI_MINOR 0

/** The one exported symbol's name. */
#define CTLIVE_POLICY_ENTRY_SYMBOL "ctlive_policy_plugin_entry"

/** What a plugin answers for one request. */
typedef enum ctlive_policy_verdict {
    CTLIVE_POLICY_ABSTAIN = 0, /**< no opinion: the next plugin in the chain decides */
    CTLIVE_POLICY_ACCEPT = 1,  /**< accept the upgrade request */
    CTLIVE_POLICY_REFUSE = 2   /**< refuse the upgrade request */
} ctlive_policy_verdict;

/** Return codes of `create` and `decide`. */
#define CTLIVE_POLICY_OK 0
#define CTLIVE_POLICY_ERROR 1

/** The plugin descriptor (ABI 1.0). Field order is frozen; new fields go at the end. */
typedef struct ctlive_policy_plugin_descriptor {
    /** `sizeof(ctlive_policy_plugin_descriptor)` as the plugin was compiled. */
    uint32_t struct_size;
    /** CTLIVE_POLICY_ABI_MAJOR / CTLIVE_POLICY_ABI_MINOR as the plugin was compiled. */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Metadata: all mandatory, non-empty, static strings. */
    const char *id;          /**< unique reverse-DNS id, e.g. "com.example.policy.weekday" */
    const char *name;        /**< short human name */
    const char *version;     /**< the plugin's own version, e.g. "1.2.0" */
    const char *description; /**< one sentence */
    const char *license;     /**< SPDX identifier, e.g. "Apache-2.0" */

    /**
     * Creates an instance from `config_json` (a JSON object, "{}" when the policy gives none).
     * On success stores the instance in `*out_instance` and returns CTLIVE_POLICY_OK.
     * On failure returns CTLIVE_POLICY_ERROR and may store an error text (allocated by the
     * plugin, released by the host with `free_string`) in `*out_error`.
     */
    int32_t (*create)(const char *config_json, void **out_instance, char **out_error);

    /**
     * Decides on one request. `request_json` is the decision context (docs/PLUGINS.md).
     * Stores a ctlive_policy_verdict in `*out_verdict` and a reason text (plugin-allocated,
     * released with `free_string`; may be left NULL) in `*out_reason`, and returns
     * CTLIVE_POLICY_OK. On an internal error returns CTLIVE_POLICY_ERROR with the error text in
     * `*out_reason`. May be called from several threads at once: keep instances immutable.
     */
    int32_t (*decide)(void *instance, const char *request_json, int32_t *out_verdict, char **out_reason);

    /** Releases a string the plugin returned through `out_error` / `out_reason`. */
    void (*free_string)(char *text);

    /** Destroys an instance made by `create`. */
    void (*destroy)(void *instance);
} ctlive_policy_plugin_descriptor;

/** The type of the entry point. */
typedef const ctlive_policy_plugin_descriptor *(*ctlive_policy_plugin_entry_fn)(void);

/**
 * Every plugin defines, with default visibility, exactly:
 *
 *     CTLIVE_POLICY_EXPORT const ctlive_policy_plugin_descriptor *ctlive_policy_plugin_entry(void);
 *
 * returning the same constant pointer on every call. (No prototype is declared here so that Swift
 * plugins can define the symbol with `@_cdecl` without clashing with an imported declaration.)
 */
#define CTLIVE_POLICY_EXPORT __attribute__((visibility("default")))

/* Host-side helpers (implemented in the CPolicyPlugin target, used by the Swift host). */

/**
 * Copies the first `min(src->struct_size, sizeof *dst)` bytes of `src` into `*dst` after zeroing it.
 * Returns the number of bytes copied.
 */
uint32_t ctlive_policy_copy_descriptor(const void *src, ctlive_policy_plugin_descriptor *dst);

/** Calls an entry point obtained with dlsym. */
const ctlive_policy_plugin_descriptor *ctlive_policy_call_entry(void *entry);

#ifdef __cplusplus
}
#endif

#endif /* CTLIVE_POLICY_PLUGIN_H */

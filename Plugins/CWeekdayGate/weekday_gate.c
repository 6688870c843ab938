/*
 * CWeekdayGate: a policy plugin written in plain C against ctlive_policy_plugin.h, to prove the ABI
 * is language-neutral. It refuses requests made on some days of the week (in the agent's time
 * zone, read from the decision context's "time.agentLocal") and abstains on the others.
 *
 * Configuration: {"refuse": ["sat", "sun"]}   (default: sat and sun)
 *
 * The JSON handling is a small skipper that finds members by key at the right depth (so that, say,
 * a customer attribute named "agentLocal" cannot stand in for the real time); a larger C plugin
 * would use a JSON library.
 */
#include "ctlive_policy_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

typedef struct gate {
    int refuse[7]; /* indexed 0 = Monday */
} gate;

static char *dup_text(const char *text) {
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy) memcpy(copy, text, n);
    return copy;
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* p is on an opening quote; returns the character after the closing quote, or NULL. */
static const char *skip_string(const char *p) {
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!*++p) return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Skips one JSON value; returns the character after it, or NULL when malformed. */
static const char *skip_value(const char *p, int depth) {
    p = skip_ws(p);
    if (depth > 32) return NULL;
    if (*p == '"') return skip_string(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                if (*p != '"' || !(p = skip_string(p))) return NULL;
                p = skip_ws(p);
                if (*p++ != ':') return NULL;
            }
            if (!(p = skip_value(p, depth + 1))) return NULL;
            p = skip_ws(p);
            if (*p == ',') { p = skip_ws(p + 1); continue; }
            if (*p == close) return p + 1;
            return NULL;
        }
    }
    const char *start = p;
    while (*p && !strchr(",}] \t\n\r", *p)) p++;
    return p > start ? p : NULL;
}

/* The value of member `key` of the object at `object` (its own members only), or NULL. */
static const char *find_value(const char *object, const char *key) {
    const char *p = skip_ws(object);
    if (*p != '{') return NULL;
    p = skip_ws(p + 1);
    size_t key_length = strlen(key);
    while (*p == '"') {
        const char *name = p + 1;
        const char *after = skip_string(p);
        if (!after) return NULL;
        int match = (size_t)(after - 1 - name) == key_length && strncmp(name, key, key_length) == 0;
        p = skip_ws(after);
        if (*p++ != ':') return NULL;
        p = skip_ws(p);
        if (match) return p;
        if (!(p = skip_value(p, 1))) return NULL;
        p = skip_ws(p);
        if (*p != ',') return NULL;
        p = skip_ws(p + 1);
    }
    return NULL;
}

static int day_index(const char *name, size_t length) {
    for (int i = 0; i < 7; i++)
        if (length == 3 && strncmp(name, day_names[i], 3) == 0) return i;
    return -1;
}

static int32_t gate_create(const char *config_json, void **out_instance, char **out_error) {
    gate *g = calloc(1, sizeof *g);
    if (!g) {
        *out_error = dup_text("out of memory");
        return CTLIVE_POLICY_ERROR;
    }
    const char *list = config_json ? find_value(config_json, "refuse") : NULL;
    if (!list) {
        g->refuse[5] = g->refuse[6] = 1;
    } else {
        if (*list != '[') {
            free(g);
            *out_error = dup_text("'refuse' must be an array of days (\"mon\" ... \"sun\")");
            return CTLIVE_POLICY_ERROR;
        }
        const char *p = skip_ws(list + 1);
        while (*p && *p != ']') {
            if (*p == '"') {
                const char *end = skip_string(p);
                if (!end) break;
                end--; /* the closing quote */
                int day = day_index(p + 1, (size_t)(end - p - 1));
                if (day < 0) {
                    char message[128];
                    snprintf(message, sizeof message, "unknown day '%.*s' in 'refuse' (use mon ... sun)",
                             (int)(end - p - 1 > 20 ? 20 : end - p - 1), p + 1);
                    free(g);
                    *out_error = dup_text(message);
                    return CTLIVE_POLICY_ERROR;
                }
                g->refuse[day] = 1;
                p = skip_ws(end + 1);
                if (*p == ',') p = skip_ws(p + 1);
            } else {
                free(g);
                *out_error = dup_text("'refuse' must be an array of days (\"mon\" ... \"sun\")");
                return CTLIVE_POLICY_ERROR;
            }
        }
    }
    *out_instance = g;
    return CTLIVE_POLICY_OK;
}

/* Day of the week of a Gregorian date, 0 = Monday (Sakamoto's method). */
static int weekday(int y, int m, int d) {
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    if (m < 3) y -= 1;
    int sunday_based = (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
    return (sunday_based + 6) % 7;
}

static int32_t gate_decide(void *instance, const char *request_json, int32_t *out_verdict, char **out_reason) {
    const gate *g = instance;
    const char *time = find_value(request_json, "time");
    const char *local = time ? find_value(time, "agentLocal") : NULL;
    int y, m, d;
    if (!local || *local != '"' || sscanf(local + 1, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 ||
        d > 31) {
        *out_reason = dup_text("the request has no time.agentLocal date");
        return CTLIVE_POLICY_ERROR;
    }
    int day = weekday(y, m, d);
    char reason[128];
    if (g->refuse[day]) {
        snprintf(reason, sizeof reason, "no upgrades on %s (%04d-%02d-%02d, agent's time)", day_names[day], y, m, d);
        *out_verdict = CTLIVE_POLICY_REFUSE;
    } else {
        snprintf(reason, sizeof reason, "%s is an open day", day_names[day]);
        *out_verdict = CTLIVE_POLICY_ABSTAIN;
    }
    *out_reason = dup_text(reason);
    return CTLIVE_POLICY_OK;
}

static void gate_free_string(char *text) { free(text); }

static void gate_destroy(void *instance) { free(instance); }

static const ctlive_policy_plugin_descriptor descriptor = {
    .struct_size = sizeof(ctlive_policy_plugin_descriptor),
    .abi_major = CTLIVE_POLICY_ABI_MAJOR,
    .abi_minor = CTLIVE_POLICY_ABI_MINOR,
    .id = "com.ctlive.policy.c-weekday-gate",
    .name = "CWeekdayGate",
    .version = "1.0.0",
    .description = "Refuses upgrades on chosen days of the week (agent's local date); written in C.",
    .license = "Apache-2.0",
    .create = gate_create,
    .decide = gate_decide,
    .free_string = gate_free_string,
    .destroy = gate_destroy,
};

CTLIVE_POLICY_EXPORT const ctlive_policy_plugin_descriptor *ctlive_policy_plugin_entry(void) { return &descriptor; }

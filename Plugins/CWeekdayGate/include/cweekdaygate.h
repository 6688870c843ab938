/* CWeekdayGate exports only `ctlive_policy_plugin_entry` (see ctlive_policy_plugin.h); nothing else is public. */
#ifndef CWEEKDAYGATE_H
#define CWEEKDAYGATE_H
#include "ctlive_policy_plugin.h"
#endif

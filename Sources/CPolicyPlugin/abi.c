#include "ctlive_policy_plugin.h"

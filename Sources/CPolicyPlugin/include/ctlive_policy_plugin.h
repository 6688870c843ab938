/* Placeholder: the policy plugin ABI is being written. */
#ifndef CTLIVE_POLICY_PLUGIN_H
#define CTLIVE_POLICY_PLUGIN_H
#endif

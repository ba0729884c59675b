// SPDX-License-Identifier: GPL-2.0
/*
 * partcp's tracepoints, instantiated once (partcp_trace.h). CREATE_RUST_TRACE_POINTS
 * also generates rust_do_trace_<event>(), which rust/glue/kernel/trace.rs calls after
 * testing the tracepoint's static key.
 */
#include <linux/module.h>

#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include "partcp_trace.h"

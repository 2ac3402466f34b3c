// The conformance suite's header is public, so that a backend outside this tree can
// run the suite: taskmill/testing/storage_conformance.h.
#pragma once

#include <taskmill/testing/storage_conformance.h>

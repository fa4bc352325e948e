// Counts the test binary's C++ heap allocations (every operator new is replaced in allocation_counter.cpp),
// so a test can show that a hot loop allocates nothing once it is warm.
#pragma once

#include <cstdint>

namespace fer::testing {

// Operator new calls so far, on every thread.
std::uint64_t allocations();

}  // namespace fer::testing

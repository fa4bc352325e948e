// What every fuzz target shares: the one way a target reports a finding, and the rule that a reader
// may only succeed or throw its documented exception type with a message. Anything else (another
// exception type, an empty message, a crash, a sanitizer report, a hang, a huge allocation) is a finding;
// the last four are caught by libFuzzer and the sanitizers, the first two here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

namespace fer::fuzz {

// abort() rather than an exception: libFuzzer keeps the input of a crash, and the regression runner
// fails loudly on it.
[[noreturn]] inline void report_finding(const std::string& what) {
    std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

inline std::span<const std::uint8_t> as_bytes(const std::uint8_t* data, std::size_t size) {
    return {data, size};
}

inline std::string as_string(const std::uint8_t* data, std::size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs body; returns true when it succeeded and false when it threw Allowed with a non-empty message.
template <typename Allowed, typename Body>
bool succeeds_or_throws(const char* entry_point, Body&& body) {
    try {
        body();
        return true;
    } catch (const Allowed& e) {
        if (std::string_view(e.what()).empty()) report_finding(std::string(entry_point) + " threw with no message");
        return false;
    } catch (const std::bad_alloc&) {
        report_finding(std::string(entry_point) + " ran out of memory (std::bad_alloc): an absurd allocation");
    } catch (const std::exception& e) {
        report_finding(std::string(entry_point) + " threw an undocumented " + typeid(e).name() + ": " + e.what());
    } catch (...) {
        report_finding(std::string(entry_point) + " threw something that is not a std::exception");
    }
}

// For work that has no documented failure once its input has been accepted.
template <typename Body>
void must_not_throw(const char* entry_point, Body&& body) {
    struct NothingIsAllowed : std::exception {};
    succeeds_or_throws<NothingIsAllowed>(entry_point, std::forward<Body>(body));
}

}  // namespace fer::fuzz

// Private to the library: how layers write their settings in architecture text (see
// architecture.hpp), in one place so every layer writes the same way the parser reads.
#pragma once

#include <charconv>
#include <string>

namespace fer::config_text {

// Shortest text that reads back to the same float, so a saved architecture rebuilds the same layer.
inline std::string number(float value) {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    return std::string(buffer, result.ptr);
}

// A window or stride: "5" when square, "4x3" (height x width) otherwise.
inline std::string window(int h, int w) {
    return h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w);
}

inline std::string flag(bool value) {
    return value ? "true" : "false";
}

}  // namespace fer::config_text
